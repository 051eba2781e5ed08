import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import KeyPool
import Logging
import NIOCore
import NIOHTTP1

/// `POST /v1/chat/completions` to OpenAI-compatible upstreams: authenticate, read only what
/// routing needs, reserve a key (one store round trip), forward the body as it came, relay the
/// answer, settle the reservation to the reported usage (one more round trip).
struct ChatProxy: Sendable {
    let state: GatewayState

    /// Answers larger than this are refused rather than held in memory (non-streaming only).
    static let maxUpstreamBodyBytes = 64 * 1024 * 1024
    /// Upstream error bodies are read up to this size.
    static let maxErrorBodyBytes = 64 * 1024

    func handle(_ request: Request, context: GatewayContext) async throws -> Response {
        let running = state.current
        try running.accessKeys.authorize(request.headers)
        let body = try await Self.collect(request, limit: running.config.server.maxBodyBytes)
        let summary = try ChatRequestSummary.parse(body)
        let candidates = running.router.candidates(for: summary.model)
        guard !candidates.isEmpty else { throw GatewayError.unknownModel(summary.model) }

        // Input tokens are estimated from the body's size (about 4 bytes a token, tools and
        // schemas included since upstreams bill them too); settle corrects it to real usage.
        let promptEstimate = max(1, body.readableBytes / 4)
        var earliestRetry: Int64?
        // A candidate whose keys are all busy or cooling down passes the request to the next
        // one (auto-model and fallbacks); failover after an upstream failure is issue 7's.
        for candidate in candidates {
            let completion = summary.maxTokens ?? running.config.defaultMaxTokens(for: candidate.provider)
            let estimate = promptEstimate + completion
            let reservation: Reservation
            do {
                reservation = try await state.store.reserve(candidate.pool, estimatedTokens: estimate)
            } catch let error as StoreUnavailableError {
                context.logger.warning("\(error)")
                throw GatewayError.storeUnavailable()
            }
            switch reservation {
            case .granted(let lease):
                guard let secret = running.secrets[candidate.provider.name]?[lease.keyID] else {
                    // Only possible if the store answered with a key the running config lacks.
                    await settle(lease, release: true, tokens: 0, context: context)
                    throw GatewayError.internalError()
                }
                let attempt = Attempt(
                    candidate: candidate, lease: lease, secret: secret, summary: summary, attempts: 1,
                    promptEstimate: promptEstimate, defaultMaxTokens: running.config.defaultMaxTokens(for: candidate.provider),
                    timeoutSeconds: running.config.server.upstreamTimeoutSeconds)
                return try await forward(body, attempt, context: context)
            case .refused(let retryAfter, _):
                earliestRetry = min(earliestRetry ?? retryAfter, retryAfter)
            }
        }
        let seconds = max(1, ((earliestRetry ?? 1000) + 999) / 1000)
        throw GatewayError(
            .tooManyRequests,
            "Every key that can serve '\(summary.model)' is at its limit or cooling down; retry in \(seconds) s.",
            type: "rate_limit_error", code: "rate_limit_exceeded",
            headers: [.retryAfter: String(seconds), ProxyHeaders.attempts: "0"])
    }

    /// One try of one key.
    struct Attempt: Sendable {
        let candidate: RouteCandidate
        let lease: Lease
        let secret: String
        let summary: ChatRequestSummary
        let attempts: Int
        let promptEstimate: Int
        /// The completion-token default for providers that need one (Anthropic's max_tokens).
        let defaultMaxTokens: Int
        let timeoutSeconds: Double

        var headers: HTTPFields {
            ProxyHeaders.make(
                provider: candidate.provider.name, model: candidate.model, keyID: lease.keyID, attempts: attempts)
        }
    }

    /// The translator for a provider type whose API is not OpenAI's; nil for OpenAI-compatible
    /// upstreams, whose bodies pass through.
    static func adapter(for type: ProviderType) -> (any ProviderAdapter)? {
        switch type {
        case .openai: nil
        case .gemini: GeminiAdapter()
        case .anthropic: AnthropicAdapter()
        }
    }

    private func forward(_ body: ByteBuffer, _ attempt: Attempt, context: GatewayContext) async throws -> Response {
        let provider = attempt.candidate.provider
        let adapter = Self.adapter(for: provider.type)
        var upstream: HTTPClientRequest
        if let adapter {
            let translated: UpstreamRequest
            do throws(GatewayError) {
                translated = try adapter.request(
                    body, summary: attempt.summary, upstreamModel: attempt.candidate.upstreamModel,
                    secret: attempt.secret, defaultMaxTokens: attempt.defaultMaxTokens)
            } catch {
                // The request cannot be expressed for this provider: nothing was sent.
                await settle(attempt.lease, release: true, tokens: 0, context: context)
                throw error.with(attempt.headers)
            }
            upstream = HTTPClientRequest(url: provider.baseURL + translated.path)
            for (name, value) in translated.headers { upstream.headers.add(name: name, value: value) }
            upstream.body = .bytes(translated.body)
        } else {
            upstream = HTTPClientRequest(url: provider.baseURL + "/chat/completions")
            upstream.headers.add(name: "Authorization", value: "Bearer \(attempt.secret)")
            upstream.headers.add(name: "Content-Type", value: "application/json")
            upstream.body = .bytes(BodyRewriter.rewrite(body, summary: attempt.summary, upstreamModel: attempt.candidate.upstreamModel))
        }
        upstream.method = .POST
        upstream.headers.add(name: "Accept", value: attempt.summary.stream ? "text/event-stream" : "application/json")
        for (name, value) in provider.headers { upstream.headers.add(name: name, value: value) }

        let response: HTTPClientResponse
        do {
            response = try await state.http.execute(
                upstream, deadline: .now() + .milliseconds(Int64(attempt.timeoutSeconds * 1000)))
        } catch {
            await settle(attempt.lease, release: true, tokens: 0, context: context)
            context.logger.warning("upstream \(provider.name) unreachable: \(String(describing: type(of: error)))")
            throw UpstreamFailure.transport(error, provider: provider.name).with(attempt.headers)
        }

        guard (200..<300).contains(Int(response.status.code)) else {
            // The upstream refused: neither the request nor its tokens count against the key.
            let errorBody = (try? await response.body.collect(upTo: Self.maxErrorBodyBytes)) ?? ByteBuffer()
            await settle(attempt.lease, release: true, tokens: 0, context: context)
            var headers = attempt.headers
            if let retry = response.headers.first(name: "retry-after") { headers[.retryAfter] = retry }
            let status = HTTPResponse.Status(code: Int(response.status.code))
            if let adapter, UpstreamFailure.relayedStatuses.contains(status.code) {
                // The provider's own error shape, told in OpenAI's.
                return adapter.error(status: status, body: errorBody).with(headers).response()
            }
            return UpstreamFailure.status(
                HTTPResponse.Status(code: Int(response.status.code)), body: errorBody, headers: headers,
                provider: provider.name, keyID: attempt.lease.keyID, secret: attempt.secret)
        }

        if attempt.summary.stream {
            let translator = adapter?.streamTranslator(model: attempt.candidate.model, includeUsage: attempt.summary.includeUsage)
                ?? StreamRelay(clientWantsUsage: attempt.summary.includeUsage)
            return stream(response, attempt, translator: translator, channel: context.channel, logger: context.logger)
        }
        var answer: ByteBuffer
        do {
            answer = try await response.body.collect(upTo: Self.maxUpstreamBodyBytes)
        } catch {
            // Cut mid-body or too large: the upstream took the request, so it counts.
            await settle(attempt.lease, release: false, tokens: attempt.lease.reservedTokens, context: context)
            throw UpstreamFailure.transport(error, provider: provider.name).with(attempt.headers)
        }
        let usage: TokenUsage?
        var headers = attempt.headers
        if let adapter {
            do throws(GatewayError) {
                (answer, usage) = try adapter.response(answer, model: attempt.candidate.model)
            } catch {
                await settle(attempt.lease, release: false, tokens: attempt.lease.reservedTokens, context: context)
                context.logger.warning("upstream \(provider.name) answer not understood: \(error.message)")
                throw GatewayError(
                    .badGateway, "The upstream provider '\(provider.name)' sent an answer the gateway could not read.",
                    type: "upstream_error", code: "upstream_invalid_response", headers: attempt.headers)
            }
            headers[.contentType] = "application/json"
        } else {
            usage = answer.withUnsafeReadableBytes { TokenUsage.of($0).usage }
            headers[.contentType] = response.headers.first(name: "content-type") ?? "application/json"
        }
        let lease = attempt.lease
        let answerBody = answer
        // The answer is written first and settled after, so the client never waits on the store.
        return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: answerBody.readableBytes) { writer in
            try await writer.write(answerBody)
            await settle(lease, release: false, tokens: usage?.totalTokens ?? lease.reservedTokens, context: context)
            try await writer.finish(nil)
        })
    }

    /// Relays the upstream's events as they arrive (never buffered whole), translated when the
    /// provider's API is not OpenAI's, then settles from the reported usage; a client that
    /// leaves stops the upstream request and settles what was sent.
    private func stream(
        _ response: HTTPClientResponse, _ attempt: Attempt, translator: any ChatStreamTranslator, channel: any Channel, logger: Logger
    ) -> Response {
        var headers = attempt.headers
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[ProxyHeaders.accelBuffering] = "no"
        let store = state.store
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var translator = translator
            // An error the provider reported inside its stream; the rest of the stream is skipped.
            var reported: GatewayError?
            let outcome = await StreamPump.run(upstream: response.body, channel: channel) { chunk in
                guard reported == nil else { return }
                let out: ByteBuffer
                do throws(GatewayError) {
                    out = try translator.feed(chunk)
                } catch {
                    reported = error
                    return
                }
                if out.readableBytes > 0 { try await writer.write(out) }
            }
            let provider = attempt.candidate.provider.name
            switch (outcome, reported) {
            case (.clientGone, _):
                break
            case (.finished, nil):
                let tail = translator.finish()
                if tail.readableBytes > 0 { try? await writer.write(tail) }
                try? await writer.finish(nil)
            case (_, let reported?):
                logger.warning("upstream \(provider) reported an error in its stream: \(reported.message)")
                try? await writer.write(StreamPump.errorEvent(reported))
                try? await writer.finish(nil)
            case (.upstreamFailed, nil):
                logger.warning("upstream \(provider) stream broke after \(translator.dataEvents) events")
                try? await writer.write(StreamPump.errorEvent(provider: provider))
                try? await writer.finish(nil)
            }
            // Tokens as reported; without a usage chunk, the prompt estimate plus one token per
            // event delivered.
            let tokens = translator.usage?.totalTokens ?? (attempt.promptEstimate + translator.dataEvents)
            await Self.settle(store: store, attempt.lease, release: false, tokens: tokens, logger: logger)
            if outcome == .clientGone { throw StreamPump.ClientGone() }
        })
    }

    private func settle(_ lease: Lease, release: Bool, tokens: Int, context: GatewayContext) async {
        await Self.settle(store: state.store, lease, release: release, tokens: tokens, logger: context.logger)
    }

    /// Settling never fails the client's request: a store error is logged and the reservation
    /// stays as estimated (it leaves the minute window within 60 s).
    static func settle(store: any UsageStore, _ lease: Lease, release: Bool, tokens: Int, logger: Logger) async {
        do {
            if release {
                try await store.release(lease)
            } else {
                try await store.settle(lease, actualTokens: tokens)
            }
        } catch {
            logger.error("settle failed for \(lease.provider) key \(lease.keyID): \(error)")
        }
    }

    /// The request body, refused with 413 past `limit` (by Content-Length before reading any).
    static func collect(_ request: Request, limit: Int) async throws(GatewayError) -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw GatewayError.bodyTooLarge(limit: limit)
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            // A chunked body (no Content-Length) that grows past the limit ends up here.
            throw GatewayError.bodyTooLarge(limit: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw GatewayError.bodyTooLarge(limit: limit)
        } catch {
            throw GatewayError.invalidRequest("The request body could not be read.", code: "invalid_body")
        }
    }
}
