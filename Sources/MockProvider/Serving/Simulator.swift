import HTTPTypes
import Hummingbird
import NIOCore

/// The request path shared by every endpoint: faults, auth, limits, stats, delivery.
///
/// Order: latency (and hang) -> dialect precheck -> key check (401) -> injected status ->
/// parse and answer (400) -> per-key limits (429) -> deliver with ttfb, chunk gaps, cut or stall.
/// Injected errors and refusals do not enter the limit windows; every request enters the stats.
struct Simulator: Sendable {
    let config: ConfigStore
    let limiter: RateLimiter
    let stats: StatsRecorder

    /// Renders the successful answer from the parsed body (nil when the body is empty or not a
    /// JSON object) and the request's faults (which decide the number of stream chunks).
    typealias Render = @Sendable (_ body: JSON.Object?, _ faults: Faults) throws -> Prepared

    func serve(
        _ request: Request,
        context: MockContext,
        dialect: some ProviderDialect,
        render: Render
    ) async throws -> Response {
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        // Pending in the stats until counted: a latency fault counts the request only after it.
        var arrival = stats.arrive()
        defer { arrival.end() }
        let config = self.config.current
        let key = dialect.apiKey(in: request).flatMap { $0.isEmpty ? nil : $0 }
        var faults = config.faults(for: key ?? "")
        if let requested = Faults(headers: request.headers) {
            faults = faults.merged(with: requested)
        }
        var record = RequestRecord(api: dialect.name, status: 200)

        if !faults.isEmpty {
            await Delay.latency(faults)
            if faults.hang == true {
                // Recorded as status 0: the client never gets an answer.
                record.status = 0
                arrival.count(key: key, record)
                await Delay.untilClientLeaves(context.channel)
                return Response(status: .gatewayTimeout)
            }
        }
        if let problem = dialect.precheck(request) {
            return refuse(problem, dialect: dialect, key: key, record: record, arrival: &arrival)
        }
        guard let key, config.accepts(key) else {
            let error = key == nil ? ProviderError(status: 401, message: "Missing API key (mock-provider).") : dialect.invalidKey()
            return refuse(error, dialect: dialect, key: key, record: record, arrival: &arrival)
        }
        if let status = injectedStatus(faults, key: key) {
            let retryAfter = faults.retryAfter ?? ([429, 503, 529].contains(status) ? 1 : nil)
            let error = ProviderError(status: status, message: "Injected fault: status \(status) (mock-provider).", retryAfter: retryAfter)
            return refuse(error, dialect: dialect, key: key, record: record, arrival: &arrival)
        }

        let prepared: Prepared
        do {
            prepared = try render(JSON.object(from: body), faults)
        } catch let error as ProviderError {
            return refuse(error, dialect: dialect, key: key, record: record, arrival: &arrival)
        }

        let (requestLimit, tokenLimit) = config.limits(for: key)
        let limits = limiter.admit(
            key: key, requestLimit: requestLimit, tokenLimit: tokenLimit,
            tokens: prepared.promptTokens + prepared.completionTokens
        )
        if let retryAfter = limits.retryAfter {
            let which = limits.exceeded == "tokens" ? "tokens per minute" : "requests per minute"
            let limit = (limits.exceeded == "tokens" ? tokenLimit : requestLimit) ?? 0
            let error = ProviderError(
                status: 429,
                message: "Rate limit reached for \(which) (mock-provider): limit \(limit). Please try again in \(retryAfter)s.",
                retryAfter: retryAfter, limits: limits
            )
            return refuse(error, dialect: dialect, key: key, record: record, arrival: &arrival)
        }

        record.streamed = prepared.isStream
        record.promptTokens = prepared.promptTokens
        record.completionTokens = prepared.completionTokens
        arrival.count(key: key, record)

        var headers: HTTPFields = [:]
        if limits.isLimited { dialect.addLimitHeaders(limits, to: &headers) }
        let streamError = faults.streamErrorAfterChunks == nil ? nil : dialect.streamErrorEvent()
        return Delivery.response(prepared, headers: headers, faults: faults, streamError: streamError, channel: context.channel)
    }

    /// The status an injected fault answers with, if this request is to fail.
    private func injectedStatus(_ faults: Faults, key: String) -> Int? {
        if let rate = faults.errorRate {
            let fails = faults.errorRandom == true ? Double.random(in: 0..<1) < rate : limiter.failsAtRate(rate, key: key)
            return fails ? (faults.status ?? 500) : nil
        }
        return faults.status
    }

    private func refuse(
        _ error: ProviderError, dialect: some ProviderDialect, key: String?, record: RequestRecord, arrival: inout StatsRecorder.Arrival
    ) -> Response {
        var record = record
        record.status = error.status
        arrival.count(key: key, record)
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter = error.retryAfter { headers[.retryAfter] = String(retryAfter) }
        if let limits = error.limits, limits.isLimited { dialect.addLimitHeaders(limits, to: &headers) }
        return Response(
            status: HTTPResponse.Status(code: error.status),
            headers: headers,
            body: ResponseBody(byteBuffer: JSON.buffer(dialect.errorBody(error)))
        )
    }
}
