import HTTPTypes
import Hummingbird
import KeyPool
import Logging
import NIOCore

/// `POST /v1/chat/completions`: authenticate, read only what routing needs, then for each
/// candidate (the model's providers, its fallbacks, or the auto-models in order) reserve a key
/// (one store round trip), forward, and relay the answer, settling the reservation to the
/// reported usage (one more round trip).
///
/// Failover: an upstream 429, 5xx, 529, timeout or connection failure before any byte reached
/// the client refunds the reservation and cools the key down for every replica (one round trip,
/// `UsageStore.fail`), then the request goes to another key of the same candidate, up to
/// `failover.max_attempts` tries, then to the next candidate. A key the upstream rejects (401,
/// 402, 403) is disabled for a while the same way. Once the first byte has gone out, nothing is
/// retried: a broken stream ends with an error event.
struct ChatProxy: Sendable {
    let state: GatewayState

    /// Answers larger than this are refused rather than held in memory (non-streaming only).
    static let maxUpstreamBodyBytes = 64 * 1024 * 1024
    /// Upstream error bodies are read up to this size.
    static let maxErrorBodyBytes = 64 * 1024

    func handle(_ request: Request, context: GatewayContext) async throws -> Response {
        let running = state.current
        let record = context.record
        try running.accessKeys.authorize(request.headers, record: record)
        let body = try await Self.collect(request, limit: running.config.server.maxBodyBytes)
        if running.config.logging.bodies {
            let logged = running.redactor.text(body)
            record.update { $0.requestBody = logged }
        }
        let summary = try ChatRequestSummary.parse(body)
        record.update {
            $0.modelRequested = ClientText.echo(summary.model)
            $0.stream = summary.stream
        }
        let candidates = running.router.candidates(for: summary.model)
        guard !candidates.isEmpty else { throw GatewayError.unknownModel(summary.model) }

        // Input tokens are estimated from the body's size (about 4 bytes a token, tools and
        // schemas included since upstreams bill them too); settle corrects it to real usage.
        let promptEstimate = max(1, body.readableBytes / 4)
        let policy = running.config.failover
        var tally = FailoverTally()
        for candidate in candidates {
            let defaultMaxTokens = running.config.defaultMaxTokens(for: candidate.provider)
            let estimate = TokenCount.sum(promptEstimate, summary.maxTokens ?? defaultMaxTokens)
            // A request larger than a key's per-minute or per-day token limit fits no key of
            // this candidate, now or later: no reserve, and no Retry-After that would never come.
            guard tally.fits(estimate, candidate.pool.limits) else { continue }
            // Translated before a key is reserved: a candidate whose API cannot express the
            // request (Anthropic and `n: 2`) is passed over without a store round trip, and a
            // later candidate may serve it. The refusal is the answer only if none can.
            let upstreamRequest: UpstreamRequest
            do throws(GatewayError) {
                upstreamRequest = try Self.upstreamRequest(
                    body, summary: summary, candidate: candidate, defaultMaxTokens: defaultMaxTokens)
            } catch {
                tally.untranslatable(error, provider: candidate.provider.name, model: candidate.model)
                continue
            }
            var tried: Set<String> = []
            while tried.count < policy.maxAttempts {
                let reservation: Reservation
                do {
                    reservation = try await state.store.reserve(candidate.pool, estimatedTokens: estimate, excluding: tried)
                } catch let error as StoreUnavailableError {
                    context.logger.warning("\(error)")
                    throw GatewayError.storeUnavailable().with([ProxyHeaders.attempts: String(tally.attempts)])
                }
                guard case .granted(let lease) = reservation else {
                    if case .refused(let retryAfter, let reason) = reservation {
                        tally.refused(retryAfterMillis: retryAfter, reason: reason)
                        state.metrics.reservation(provider: candidate.provider.name, keyID: "", outcome: reason.rawValue)
                    }
                    break  // this candidate has no key to offer: the next one may
                }
                state.metrics.reservation(provider: candidate.provider.name, keyID: lease.keyID, outcome: "granted")
                tried.insert(lease.keyID)
                guard let secret = running.secrets[candidate.provider.name]?[lease.keyID] else {
                    // Only possible if the store answered with a key the running config lacks.
                    await settle(lease, release: true, tokens: 0, context: context)
                    throw GatewayError.internalError()
                }
                tally.attempted()
                record.update {
                    $0.provider = candidate.provider.name
                    $0.model = candidate.model
                    $0.keyID = lease.keyID
                    $0.attempts = tally.attempts
                }
                let attempt = Attempt(
                    candidate: candidate, lease: lease, secret: secret, summary: summary, request: upstreamRequest,
                    attempts: tally.attempts,
                    promptEstimate: promptEstimate,
                    timeoutSeconds: state.http.timeoutSeconds,
                    bodyLog: running.config.logging.bodies ? running.redactor : nil)
                switch try await forward(attempt, context: context) {
                case .answered(let response):
                    return response
                case .failed(let failure):
                    // A request cancelled meanwhile (the client left, or shutdown ran out) made the
                    // try fail: that says nothing about the key, and no other key is worth trying.
                    if Task.isCancelled {
                        await settle(lease, release: true, tokens: 0, context: context)
                        throw CancellationError()
                    }
                    let cost = failure.keyFailure(policy)
                    tally.failed(failure, model: candidate.model, cooldownMillis: cost.cooldownMillis)
                    await penalize(lease, pool: candidate.pool, cost, failure, context: context)
                }
            }
        }
        let error = tally.error(model: summary.model, maxTokensParam: summary.maxTokensParam)
        // The log line names the provider and model the answer's headers name (the last try's,
        // or the candidate that could not take the request).
        if let provider = error.headers[ProxyHeaders.provider] {
            record.update {
                $0.provider = provider
                $0.model = error.headers[ProxyHeaders.model]
            }
        }
        throw error
    }

    /// One try of one key.
    struct Attempt: Sendable {
        let candidate: RouteCandidate
        let lease: Lease
        let secret: String
        let summary: ChatRequestSummary
        /// The candidate's upstream request, translated once for all its keys (no key in it).
        let request: UpstreamRequest
        /// This try's number within the request (`x-gateway-attempts`).
        let attempts: Int
        let promptEstimate: Int
        /// The upstream timeout (`UpstreamClient.timeoutSeconds`); also how long one write to a
        /// stream's client may wait before the client counts as gone.
        let timeoutSeconds: Double
        /// The running config's redactor when `logging.bodies` is on, for the logged answer.
        let bodyLog: BodyRedactor?

        var headers: HTTPFields {
            ProxyHeaders.make(
                provider: candidate.provider.name, model: candidate.model, keyID: lease.keyID, attempts: attempts)
        }

        var provider: String { candidate.provider.name }

        /// What the provider's messages must not show the client: the key and the upstream's
        /// address.
        var hidden: [String] { UpstreamErrorText.hidden(secret: secret, baseURL: candidate.provider.baseURL) }
    }

    /// Usage an upstream reported: counted in the metrics and put on the request's log line.
    static func noteUsage(_ usage: TokenUsage, _ attempt: Attempt, metrics: GatewayMetrics, record: RequestRecord) {
        metrics.tokens(provider: attempt.provider, model: attempt.candidate.model, input: usage.promptTokens, output: usage.completionTokens)
        record.update {
            $0.tokensIn = usage.promptTokens
            $0.tokensOut = usage.completionTokens
        }
    }

    /// How a try ended: an answer for the client (a success, or an error no other key would
    /// change), or a failure before any byte reached the client, which another key may mend.
    enum AttemptResult: Sendable {
        case answered(Response)
        case failed(UpstreamFailure)
    }

    /// Refunds the try and cools its key down for every replica. A store error is logged: the
    /// request goes on to the next key either way.
    private func penalize(
        _ lease: Lease, pool: KeyPoolDescriptor, _ cost: KeyFailure, _ failure: UpstreamFailure, context: GatewayContext
    ) async {
        let what = failure.status.map { "\(failure.kind.rawValue) (\($0))" } ?? failure.kind.rawValue
        context.logger.warning(
            "upstream \(failure.provider) key \(failure.keyID) failed: \(what); cooling down \(cost.cooldownMillis) ms")
        state.metrics.cooldown(provider: failure.provider, keyID: failure.keyID, reason: cost.reason)
        do {
            if try await state.store.fail(lease, pool: pool, failure: cost) {
                state.metrics.circuitOpened(provider: failure.provider)
                context.logger.warning("upstream \(failure.provider): every key is failing; circuit breaker open")
            }
        } catch {
            context.logger.error("recording the failure of \(lease.provider) key \(lease.keyID) failed: \(error)")
        }
    }

    func settle(_ lease: Lease, release: Bool, tokens: Int, context: GatewayContext) async {
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

    /// The request body, refused with 413 past `limit` (by Content-Length before reading any),
    /// and with 415 when it is content-coded.
    static func collect(_ request: Request, limit: Int) async throws(GatewayError) -> ByteBuffer {
        // The gateway decodes no content coding, and a compressed body read as JSON was a
        // puzzling 400 invalid_json (the upstream could not have read it either: the body is
        // forwarded without the client's headers). Checked before any of the body is read.
        if request.headers.contains(.contentEncoding) {
            let codings = request.headers[values: .contentEncoding]
                .flatMap { $0.split(separator: ",") }
                .map { $0.filter { $0 != " " && $0 != "\t" } }  // a coding is one token
                .filter { !$0.isEmpty && $0.lowercased() != "identity" }
            if !codings.isEmpty { throw GatewayError.unsupportedContentEncoding(codings.joined(separator: ", ")) }
        }
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
