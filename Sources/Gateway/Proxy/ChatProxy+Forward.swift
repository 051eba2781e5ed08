import HTTPTypes
import Hummingbird
import KeyPool
import NIOCore
import NIOHTTP1
import Logging

extension ChatProxy {
    /// The translator for a provider type whose API is not OpenAI's; nil for OpenAI-compatible
    /// upstreams, whose bodies pass through.
    static func adapter(for type: ProviderType) -> (any ProviderAdapter)? {
        switch type {
        case .openai: nil
        case .gemini: GeminiAdapter()
        case .anthropic: AnthropicAdapter()
        }
    }

    /// The upstream request for `candidate`, without a key: translated for Gemini and
    /// Anthropic (throws the 400 naming what the provider cannot express), the body as it came
    /// for OpenAI-compatible upstreams (`model` and `stream_options` rewritten where needed).
    static func upstreamRequest(
        _ body: ByteBuffer, summary: ChatRequestSummary, candidate: RouteCandidate, defaultMaxTokens: Int
    ) throws(GatewayError) -> UpstreamRequest {
        if let adapter = adapter(for: candidate.provider.type) {
            return try adapter.request(
                body, summary: summary, upstreamModel: candidate.upstreamModel, defaultMaxTokens: defaultMaxTokens)
        }
        return UpstreamRequest(
            path: "/chat/completions", keyHeader: "Authorization", keyPrefix: "Bearer ",
            apiHeaders: [("Content-Type", "application/json")],
            body: BodyRewriter.rewrite(body, summary: summary, upstreamModel: candidate.upstreamModel))
    }

    /// Sends one try upstream. Throws only errors that end the request (an answer the gateway
    /// cannot pass on); upstream failures another key may mend come back as `.failed`, with the
    /// reservation still held for `penalize` to refund.
    func forward(_ attempt: Attempt, context: GatewayContext) async throws -> AttemptResult {
        let provider = attempt.candidate.provider
        let adapter = Self.adapter(for: provider.type)
        let url = provider.baseURL + attempt.request.path
        var upstreamHeaders = attempt.request.headers(key: attempt.secret).map { ($0.name, $0.value) }
        upstreamHeaders.append(("Accept", attempt.summary.stream ? "text/event-stream" : "application/json"))
        for (name, value) in provider.headers { upstreamHeaders.append((name, value)) }

        let response: UpstreamResponse
        let sent = ContinuousClock.now
        let metrics = state.metrics
        let record = context.record
        /// Times the try (to the answer head or the failure) for the metrics and the log line.
        func tried(_ outcome: String) {
            let seconds = RequestRecord.seconds(sent.duration(to: .now))
            metrics.upstreamTry(provider: attempt.provider, model: attempt.candidate.model, outcome: outcome, seconds: seconds)
            record.update { $0.upstreamSeconds = seconds }
        }
        // A stream is relayed on the client connection's loop, and a request handled on that
        // loop (a lightly loaded replica, see `ChatRoutes`) stays there: its upstream connection
        // is taken from (or opened on) the same loop, so the answer resumes it without a hand-off.
        do {
            response = try await state.http.post(
                url, headers: upstreamHeaders, body: attempt.request.body,
                deadline: .now() + .milliseconds(Int64(attempt.timeoutSeconds * 1000)),
                preferring: attempt.summary.stream || context.channel.eventLoop.inEventLoop ? context.channel.eventLoop : nil)
        } catch {
            let failure = UpstreamFailure.transport(error, provider: attempt.provider, keyID: attempt.lease.keyID)
            tried(failure.kind.rawValue)
            return .failed(failure)
        }

        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let errorBody = (try? await response.body.collect(upTo: Self.maxErrorBodyBytes)) ?? ByteBuffer()
            if let failure = UpstreamFailure.classify(
                status: status, headers: response.headers, body: errorBody, provider: attempt.provider, keyID: attempt.lease.keyID)
            {
                tried(failure.kind.rawValue)
                return .failed(failure)
            }
            tried("rejected")
            record.update { $0.error = "upstream_rejected_\(status)" }
            // The client's own request is at fault: no other key would answer differently, and
            // neither the request nor its tokens count against the key.
            await settle(attempt.lease, release: true, tokens: 0, context: context)
            var headers = attempt.headers
            if let retry = response.headers.first(name: "retry-after") { headers[.retryAfter] = retry }
            let httpStatus = HTTPResponse.Status(code: status)
            if let adapter, UpstreamRejection.relayedStatuses.contains(status) {
                // The provider's own error shape, told in OpenAI's.
                return .answered(adapter.error(status: httpStatus, body: errorBody).redacting(attempt.hidden).with(headers).response())
            }
            return .answered(UpstreamRejection.response(
                httpStatus, body: errorBody, headers: headers, provider: attempt.provider, hidden: attempt.hidden))
        }

        tried("ok")
        if attempt.summary.stream {
            let translator = adapter?.streamTranslator(model: attempt.candidate.model, includeUsage: attempt.summary.includeUsage)
                ?? StreamRelay(clientWantsUsage: attempt.summary.includeUsage)
            return await stream(response, attempt, translator: translator, context: context)
        }
        var answer: ByteBuffer
        do {
            answer = try await response.body.collect(upTo: Self.maxUpstreamBodyBytes)
        } catch let error as UpstreamClientError where error.code == .tooLarge {
            // Every other key would get the same answer: no failover, no cooldown, no breaker mark.
            throw await unusable(
                attempt, UpstreamErrorText.tooLarge(attempt.provider, limit: Self.maxUpstreamBodyBytes),
                log: "answered with more than \(Self.maxUpstreamBodyBytes) bytes", context: context)
        } catch {
            // Cut mid-body: nothing reached the client yet, so another key may still answer.
            // (Counted as an `ok` try above: the head was fine.)
            return .failed(.transport(error, provider: attempt.provider, keyID: attempt.lease.keyID))
        }
        let usage: TokenUsage?
        var headers = attempt.headers
        if let adapter {
            do throws(GatewayError) {
                (answer, usage) = try adapter.response(answer, model: attempt.candidate.model)
            } catch {
                throw await unusable(
                    attempt, UpstreamErrorText.unreadable(attempt.provider),
                    log: "answer not understood: \(error.message)", context: context)
            }
            headers[.contentType] = "application/json"
        } else {
            usage = answer.withUnsafeReadableBytes { TokenUsage.of($0).usage }
            headers[.contentType] = response.headers.first(name: "content-type") ?? "application/json"
        }
        if let usage { Self.noteUsage(usage, attempt, metrics: metrics, record: record) }
        if let bodyLog = attempt.bodyLog {
            let logged = bodyLog.text(answer)
            record.update { $0.responseBody = logged }
        }
        // The answer goes out whole, in one flush with its head, while the settle runs beside
        // it: the client never waits on the store, and the settle happens even if the client
        // has gone (the provider did the work).
        let lease = attempt.lease
        let store = state.store
        let logger = context.logger
        state.settles.run {
            await Self.settle(store: store, lease, release: false, tokens: usage?.totalTokens ?? lease.reservedTokens, logger: logger)
        }
        return .answered(Response(status: .ok, headers: headers, body: .init(byteBuffer: answer)))
    }

    /// A 2xx answer the gateway cannot pass on: the provider did the work (and bills it), so the
    /// key is charged its estimate; the client gets `error` with the attempt's headers.
    private func unusable(_ attempt: Attempt, _ error: GatewayError, log: String, context: GatewayContext) async -> GatewayError {
        await settle(attempt.lease, release: false, tokens: attempt.lease.reservedTokens, context: context)
        context.logger.warning("upstream \(attempt.provider) \(log)")
        return error.with(attempt.headers)
    }
}
