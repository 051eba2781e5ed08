import Prometheus
import Synchronization

/// The gateway's Prometheus metrics (GET /metrics), one registry per gateway.
///
/// The registry is swift-prometheus'; `GatewayCommand` also installs it as swift-metrics'
/// backend, so metrics a dependency reports through swift-metrics land on the same page. The
/// gateway's own series are made through the registry's typed API, which carries HELP text.
/// Every name and label is listed in docs/operations.md. Label values are bounded: provider
/// entry names, key ids, fixed outcome words, and model names, of which the first
/// `modelLabelLimit` get series and any later one counts as `model="other"` (a glob serves names
/// the client makes up; an unknown model is counted as `model=""`).
final class GatewayMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// Distinct model names with series of their own (see `LabelBudget`).
    static let modelLabelLimit = 200
    private let models = LabelBudget(limit: GatewayMetrics.modelLabelLimit)

    /// Request and upstream durations: from a fast local answer to a long completion.
    static let durationBuckets: [Double] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
    ]
    /// Redis round trips: tens of microseconds when healthy.
    static let redisBuckets: [Double] = [
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
    ]

    /// Every series: its name and HELP text (swift-prometheus' descriptor; the name is given
    /// whole, so `unitName` stays empty). `nonisolated(unsafe)`: the descriptor is a struct of
    /// `let` strings, immutable once made, but swift-prometheus does not declare it Sendable.
    enum Series {
        nonisolated(unsafe) static let requestsInFlight = named(
            "gateway_requests_in_flight", "HTTP requests being handled by this replica (streams until they end).")
        nonisolated(unsafe) static let streamsInFlight = named(
            "gateway_streams_in_flight", "Streamed chat completions open on this replica.")
        nonisolated(unsafe) static let logLinesDroppedTotal = named(
            "gateway_log_lines_dropped_total", "Log lines dropped because standard output could not keep up.")
        nonisolated(unsafe) static let requestsTotal = named(
            "gateway_requests_total", "HTTP requests answered, by endpoint, provider, model and status.")
        nonisolated(unsafe) static let requestDurationSeconds = named(
            "gateway_request_duration_seconds", "Time from a request's arrival to the last byte of its answer (a stream's end).")
        nonisolated(unsafe) static let upstreamRequestsTotal = named(
            "gateway_upstream_requests_total", "Upstream tries, by provider, model and outcome (ok, a failure kind, or rejected).")
        nonisolated(unsafe) static let upstreamDurationSeconds = named(
            "gateway_upstream_duration_seconds", "Time from sending an upstream try to the upstream's answer head (status and headers).")
        nonisolated(unsafe) static let streamsTotal = named(
            "gateway_streams_total", "Streamed chat completions ended, by provider, model and how they ended (the status was 200 for all).")
        nonisolated(unsafe) static let streamTimeToFirstTokenSeconds = named(
            "gateway_stream_time_to_first_token_seconds", "Time from a streamed request's arrival to the first event written to the client.")
        nonisolated(unsafe) static let tokensTotal = named(
            "gateway_tokens_total", "Tokens the upstreams reported, by provider, model and direction (input: prompt, output: completion).")
        nonisolated(unsafe) static let keyReservationsTotal = named(
            "gateway_key_reservations_total", "Key reservations, by provider, key id and outcome.")
        nonisolated(unsafe) static let keyCooldownsTotal = named(
            "gateway_key_cooldowns_total", "Cooldowns started by this replica after upstream failures, by provider, key id and reason.")
        nonisolated(unsafe) static let circuitBreakerOpenedTotal = named(
            "gateway_circuit_breaker_opened_total", "Times this replica opened a provider's circuit breaker.")
        nonisolated(unsafe) static let keys = named(
            "gateway_keys", "Keys by status in the shared store at scrape time (the same on every replica).")
        nonisolated(unsafe) static let redisCommandDurationSeconds = named(
            "gateway_redis_command_duration_seconds", "Redis round trips of the key-pool store (one EVALSHA each), by operation.")
        nonisolated(unsafe) static let redisErrorsTotal = named(
            "gateway_redis_errors_total", "Redis operations that failed (connection down, timeout, error reply), by operation.")
        nonisolated(unsafe) static let configReloadsTotal = named(
            "gateway_config_reloads_total", "Config reloads, by outcome (applied, rejected).")

        static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }
    }

    private let requestsInFlight: Gauge
    private let streamsInFlight: Gauge
    private let logLinesDropped: Counter
    private let logLinesReported = Atomic<Int>(0)
    // The series every request touches, through handle caches.
    private let requests: SeriesCache<Counter>
    private let requestDuration: SeriesCache<ValueHistogram>
    private let upstreamRequests: SeriesCache<Counter>
    private let upstreamDuration: SeriesCache<ValueHistogram>
    private let firstTokenTimes: SeriesCache<ValueHistogram>
    private let streams: SeriesCache<Counter>
    private let tokenCounts: SeriesCache<Counter>
    private let reservations: SeriesCache<Counter>
    private let redisDuration: SeriesCache<ValueHistogram>

    init() {
        let registry = registry
        let models = models
        requestsInFlight = registry.makeGauge(descriptor: Series.requestsInFlight)
        streamsInFlight = registry.makeGauge(descriptor: Series.streamsInFlight)
        logLinesDropped = registry.makeCounter(descriptor: Series.logLinesDroppedTotal)
        func counter(_ descriptor: MetricNameDescriptor, _ labels: [String]) -> SeriesCache<Counter> {
            nonisolated(unsafe) let descriptor = descriptor  // immutable; see `Series`
            return SeriesCache(labels, models: models) { registry.makeCounter(descriptor: descriptor, labels: $0) }
        }
        func histogram(_ descriptor: MetricNameDescriptor, _ labels: [String], _ buckets: [Double]) -> SeriesCache<ValueHistogram> {
            nonisolated(unsafe) let descriptor = descriptor
            return SeriesCache(labels, models: models) {
                registry.makeValueHistogram(descriptor: descriptor, labels: $0, buckets: buckets)
            }
        }
        requests = counter(Series.requestsTotal, ["endpoint", "provider", "model", "status"])
        requestDuration = histogram(Series.requestDurationSeconds, ["endpoint", "provider", "model"], Self.durationBuckets)
        upstreamRequests = counter(Series.upstreamRequestsTotal, ["provider", "model", "outcome"])
        upstreamDuration = histogram(Series.upstreamDurationSeconds, ["provider", "model"], Self.durationBuckets)
        firstTokenTimes = histogram(Series.streamTimeToFirstTokenSeconds, ["provider", "model"], Self.durationBuckets)
        streams = counter(Series.streamsTotal, ["provider", "model", "outcome"])
        tokenCounts = counter(Series.tokensTotal, ["provider", "model", "direction"])
        reservations = counter(Series.keyReservationsTotal, ["provider", "key_id", "outcome"])
        redisDuration = histogram(Series.redisCommandDurationSeconds, ["command"], Self.redisBuckets)
    }

    // MARK: Requests

    func requestStarted() { requestsInFlight.increment() }

    /// One finished HTTP request: counted by endpoint, provider, model and status, and timed.
    func requestFinished(endpoint: String, provider: String, model: String, status: Int, seconds: Double) {
        requestsInFlight.decrement()
        requests(endpoint, provider, model, String(status)).increment()
        requestDuration(endpoint, provider, model).record(seconds)
    }

    func streamStarted() { streamsInFlight.increment() }
    func streamEnded() { streamsInFlight.decrement() }

    /// How a stream ended. Its answer's status (200) was sent before the end was known, so a
    /// stream that broke shows only here and in the request's log line (its `error` field).
    func streamFinished(provider: String, model: String, outcome: String) {
        streams(provider, model, outcome).increment()
    }

    /// One upstream try: from sending it to the upstream's answer head (or its failure).
    func upstreamTry(provider: String, model: String, outcome: String, seconds: Double) {
        upstreamRequests(provider, model, outcome).increment()
        upstreamDuration(provider, model).record(seconds)
    }

    func timeToFirstToken(provider: String, model: String, seconds: Double) {
        firstTokenTimes(provider, model).record(seconds)
    }

    /// Tokens the upstream reported (answers without a usage report are not counted here).
    func tokens(provider: String, model: String, input: Int, output: Int) {
        tokenCounts(provider, model, "input").increment(by: Int64(max(0, input)))
        tokenCounts(provider, model, "output").increment(by: Int64(max(0, output)))
    }

    // MARK: Keys

    /// A reserve call's outcome: `granted` (with the key's id), or why none was (`window_full`,
    /// `cooling_down`, `keys_failing`, `circuit_open`, `exhausted`: every key already tried),
    /// with `key_id=""`.
    func reservation(provider: String, keyID: String, outcome: String) {
        reservations(provider, keyID, outcome).increment()
    }

    /// A key put into cooldown by this replica after an upstream failure (`reason` as in
    /// /v1/usage; `auth_rejected` means disabled).
    func cooldown(provider: String, keyID: String, reason: String) {
        registry.makeCounter(descriptor: Series.keyCooldownsTotal,
            labels: [("provider", provider), ("key_id", keyID), ("reason", reason)]).increment()
    }

    func circuitOpened(provider: String) {
        registry.makeCounter(descriptor: Series.circuitBreakerOpenedTotal, labels: [("provider", provider)]).increment()
    }

    /// Keys by status (`active`, `limited`, `cooling_down`, `disabled`) as the shared store
    /// sees them, set at each scrape: the same on every replica.
    func keys(provider: String, status: String, count: Int) {
        registry.makeGauge(descriptor: Series.keys,
            labels: [("provider", provider), ("status", status)]).set(Double(count))
    }

    // MARK: Store, config, logs

    func redisCommand(_ command: String, seconds: Double, failed: Bool) {
        redisDuration(command).record(seconds)
        if failed {
            registry.makeCounter(descriptor: Series.redisErrorsTotal, labels: [("command", command)]).increment()
        }
    }

    func configReload(outcome: String) {
        registry.makeCounter(descriptor: Series.configReloadsTotal, labels: [("outcome", outcome)]).increment()
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
