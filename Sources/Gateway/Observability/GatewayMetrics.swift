import Prometheus
import Synchronization

/// The gateway's Prometheus metrics (GET /metrics), one registry per gateway.
///
/// The registry is swift-prometheus'; `GatewayCommand` also installs it as swift-metrics'
/// backend, so metrics a dependency reports through swift-metrics land on the same page. The
/// gateway's own series are made through the registry's typed API, which carries HELP text.
/// Every name and label is listed in docs/operations.md. Label values are bounded: provider
/// entry names, served model names, key ids and fixed outcome words, never anything a client
/// makes up (an unknown model is counted as `model=""`).
final class GatewayMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    /// Request and upstream durations: from a fast local answer to a long completion.
    static let durationBuckets: [Double] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
    ]
    /// Redis round trips: tens of microseconds when healthy.
    static let redisBuckets: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
    ]

    private let requestsInFlight: Gauge
    private let streamsInFlight: Gauge
    private let logLinesDropped: Counter
    private let logLinesReported = Atomic<Int>(0)

    init() {
        requestsInFlight = registry.makeGauge(
            name: "gateway_requests_in_flight", help: "HTTP requests being handled by this replica (streams until they end).")
        streamsInFlight = registry.makeGauge(
            name: "gateway_streams_in_flight", help: "Streamed chat completions open on this replica.")
        logLinesDropped = registry.makeCounter(
            name: "gateway_log_lines_dropped_total", help: "Log lines dropped because standard output could not keep up.")
    }

    // MARK: Requests

    func requestStarted() { requestsInFlight.increment() }

    /// One finished HTTP request: counted by endpoint, provider, model and status, and timed.
    func requestFinished(endpoint: String, provider: String, model: String, status: Int, seconds: Double) {
        requestsInFlight.decrement()
        let labels = [("endpoint", endpoint), ("provider", provider), ("model", model)]
        registry.makeCounter(
            name: "gateway_requests_total", labels: labels + [("status", String(status))],
            help: "HTTP requests answered, by endpoint, provider, model and status.").increment()
        registry.makeValueHistogram(
            name: "gateway_request_duration_seconds", labels: labels, buckets: Self.durationBuckets,
            help: "Time from a request's arrival to the last byte of its answer (a stream's end).").record(seconds)
    }

    func streamStarted() { streamsInFlight.increment() }
    func streamEnded() { streamsInFlight.decrement() }

    /// One upstream try: from sending it to the upstream's answer head (or its failure).
    func upstreamTry(provider: String, model: String, outcome: String, seconds: Double) {
        registry.makeCounter(
            name: "gateway_upstream_requests_total", labels: [("provider", provider), ("model", model), ("outcome", outcome)],
            help: "Upstream tries, by provider, model and outcome (ok, a failure kind, or rejected).").increment()
        registry.makeValueHistogram(
            name: "gateway_upstream_duration_seconds", labels: [("provider", provider), ("model", model)],
            buckets: Self.durationBuckets,
            help: "Time from sending an upstream try to the upstream's answer head (status and headers).").record(seconds)
    }

    func timeToFirstToken(provider: String, model: String, seconds: Double) {
        registry.makeValueHistogram(
            name: "gateway_stream_time_to_first_token_seconds", labels: [("provider", provider), ("model", model)],
            buckets: Self.durationBuckets,
            help: "Time from a streamed request's arrival to the first event written to the client.").record(seconds)
    }

    /// Tokens the upstream reported (answers without a usage report are not counted here).
    func tokens(provider: String, model: String, input: Int, output: Int) {
        let help = "Tokens the upstreams reported, by provider, model and direction (input: prompt, output: completion)."
        let labels = [("provider", provider), ("model", model)]
        registry.makeCounter(name: "gateway_tokens_total", labels: labels + [("direction", "input")], help: help)
            .increment(by: Int64(max(0, input)))
        registry.makeCounter(name: "gateway_tokens_total", labels: labels + [("direction", "output")], help: help)
            .increment(by: Int64(max(0, output)))
    }

    // MARK: Keys

    /// A reserve call's outcome: `granted` (with the key's id), or why none was (`window_full`,
    /// `cooling_down`, `circuit_open`, `exhausted`: every key already tried), with `key_id=""`.
    func reservation(provider: String, keyID: String, outcome: String) {
        registry.makeCounter(
            name: "gateway_key_reservations_total", labels: [("provider", provider), ("key_id", keyID), ("outcome", outcome)],
            help: "Key reservations, by provider, key id and outcome.").increment()
    }

    /// A key put into cooldown by this replica after an upstream failure (`reason` as in
    /// /v1/usage; `auth_rejected` means disabled).
    func cooldown(provider: String, keyID: String, reason: String) {
        registry.makeCounter(
            name: "gateway_key_cooldowns_total", labels: [("provider", provider), ("key_id", keyID), ("reason", reason)],
            help: "Cooldowns started by this replica after upstream failures, by provider, key id and reason.").increment()
    }

    func circuitOpened(provider: String) {
        registry.makeCounter(
            name: "gateway_circuit_breaker_opened_total", labels: [("provider", provider)],
            help: "Times this replica opened a provider's circuit breaker.").increment()
    }

    /// Keys by status (`active`, `limited`, `cooling_down`, `disabled`) as the shared store
    /// sees them, set at each scrape: the same on every replica.
    func keys(provider: String, status: String, count: Int) {
        registry.makeGauge(
            name: "gateway_keys", labels: [("provider", provider), ("status", status)],
            help: "Keys by status in the shared store at scrape time (the same on every replica).").set(Double(count))
    }

    // MARK: Store, config, logs

    func redisCommand(_ command: String, seconds: Double, failed: Bool) {
        registry.makeValueHistogram(
            name: "gateway_redis_command_duration_seconds", labels: [("command", command)], buckets: Self.redisBuckets,
            help: "Redis round trips of the key-pool store (one EVALSHA each), by operation.").record(seconds)
        if failed {
            registry.makeCounter(
                name: "gateway_redis_errors_total", labels: [("command", command)],
                help: "Redis operations that failed (connection down, timeout, error reply), by operation.").increment()
        }
    }

    func configReload(outcome: String) {
        registry.makeCounter(
            name: "gateway_config_reloads_total", labels: [("outcome", outcome)],
            help: "Config reloads, by outcome (applied, rejected).").increment()
    }

    /// Brings the dropped-lines counter up to the writer's count (called at scrape time).
    func syncDroppedLogLines(_ total: Int) {
        let before = logLinesReported.exchange(total, ordering: .relaxed)
        if total > before { logLinesDropped.increment(by: Int64(total - before)) }
    }

    /// The text exposition of every series.
    func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }
}
