import HTTPTypes
import KeyPool

/// What one request's tries came to, for the answer when no candidate could serve it.
struct FailoverTally: Sendable {
    /// Upstream requests made (reported as `x-gateway-attempts`).
    private(set) var attempts = 0
    private(set) var lastFailure: UpstreamFailure?
    /// The model the last failed try was routed as (`x-gateway-model` of the error).
    private var lastModel: String?
    /// When the earliest refused or failed key frees up, in ms from now.
    private var earliestRetryMillis: Int64?
    private var refusedByLimits = false
    private var refusedByBreaker = false
    private var refusedByFailures = false
    /// A per-key token limit smaller than the request's estimate, the largest such limit over
    /// the candidates skipped for it (the one the request comes closest to fitting); `window`
    /// is "minute" or "day".
    private var tooLarge: (estimate: Int, limit: Int, window: String)?
    /// The first candidate whose provider's API cannot express the request (Anthropic and
    /// `n: 2`), with that candidate's provider and model for the answer's headers.
    private var untranslatable: (error: GatewayError, provider: String, model: String)?
    /// Whether the untranslatable candidate came before any candidate too small for the
    /// request: of two answers that waiting would not change, the earlier candidate's is given.
    private var untranslatableFirst = false

    mutating func attempted() { attempts += 1 }

    mutating func refused(retryAfterMillis: Int64, reason: RefusalReason) {
        switch reason {
        case .windowsFull, .coolingDown: refusedByLimits = true
        case .circuitOpen: refusedByBreaker = true
        case .keysFailing: refusedByFailures = true
        case .exhausted: return  // every key was tried here; their failures say the rest
        }
        note(retryAfterMillis)
    }

    /// Whether keys with `limits` may ever use `estimate` tokens for one request; when not, the
    /// candidate is noted as too small for it.
    mutating func fits(_ estimate: Int, _ limits: KeyLimits) -> Bool {
        let over: (limit: Int, window: String)
        if let perMinute = limits.tokensPerMinute, estimate > perMinute {
            over = (perMinute, "minute")
        } else if let perDay = limits.tokensPerDay, estimate > perDay {
            over = (perDay, "day")
        } else {
            return true
        }
        if (tooLarge?.limit ?? 0) < over.limit { tooLarge = (estimate, over.limit, over.window) }
        return false
    }

    /// A candidate passed over because its adapter refused to translate the request: a property
    /// of the candidate, not of the request, so the next candidate is tried; the refusal is
    /// the answer only when no candidate was held back for a reason that passes (see `error`).
    mutating func untranslatable(_ error: GatewayError, provider: String, model: String) {
        guard untranslatable == nil else { return }
        untranslatable = (error, provider, model)
        untranslatableFirst = tooLarge == nil
    }

    mutating func failed(_ failure: UpstreamFailure, model: String, cooldownMillis: Int64) {
        lastFailure = failure
        lastModel = model
        note(cooldownMillis)
    }

    private mutating func note(_ millis: Int64) {
        earliestRetryMillis = min(earliestRetryMillis ?? millis, millis)
    }

    /// The answer when every candidate is exhausted: the last upstream failure when a try was
    /// made (429, 502 or 504), else 429 when keys are at their limits or cooling down for a rate
    /// limit, or 503 when only failures stood in the way: open circuit breakers, or keys all
    /// cooling down after failing upstream (a 429 there would tell clients and dashboards that a
    /// limit was hit, when the provider is failing or has rejected every key). Retry-After says
    /// when a key frees up: a busy candidate's answer wins, since a retry can succeed. When
    /// the only obstacles were permanent (the request's size against the keys' token limits,
    /// or providers whose API cannot express it), 400: waiting would not help, so there is no
    /// Retry-After for clients to honour forever; the first such candidate's reason is given.
    /// `maxTokensParam`: the request's member that sets the answer's length (see
    /// `ChatRequestSummary.maxTokensParam`), named by the 400.
    func error(model: String, maxTokensParam: String = "max_tokens") -> GatewayError {
        let onlyPermanent = lastFailure == nil && !refusedByLimits && !refusedByBreaker && !refusedByFailures
        if onlyPermanent, let untranslatable, untranslatableFirst || tooLarge == nil {
            // No key was tried for it: the candidate's provider and model, no key id.
            return untranslatable.error.with([
                ProxyHeaders.provider: untranslatable.provider, ProxyHeaders.model: untranslatable.model,
                ProxyHeaders.attempts: String(attempts),
            ])
        }
        if onlyPermanent, let tooLarge {
            return GatewayError(
                .badRequest,
                "This request needs about \(tooLarge.estimate) tokens (its size in tokens plus \(maxTokensParam)), more than "
                    + "the \(tooLarge.limit) tokens a \(tooLarge.window) any key for '\(model)' may use. "
                    + "Lower \(maxTokensParam) or shorten the request.",
                type: "invalid_request_error", param: maxTokensParam, code: "token_limit_exceeded"
            ).with([ProxyHeaders.attempts: String(attempts)])
        }
        var error: GatewayError
        if let lastFailure {
            error = lastFailure.clientError
        } else if refusedByFailures && !refusedByLimits {
            error = GatewayError(
                .serviceUnavailable,
                "Every key that can serve '\(model)' is held back after failing upstream (errors, timeouts or "
                    + "keys the provider rejected); /v1/usage shows each key's cooldown reason.",
                type: "service_unavailable", code: "keys_unavailable")
        } else if refusedByBreaker && !refusedByLimits {
            error = GatewayError(
                .serviceUnavailable,
                "Every provider that can serve '\(model)' is failing and is skipped for a short while.",
                type: "service_unavailable", code: "provider_unavailable")
        } else {
            error = GatewayError(
                .tooManyRequests, "Every key that can serve '\(model)' is at its limit or cooling down.",
                type: "rate_limit_error", code: "rate_limit_exceeded")
        }
        var headers: HTTPFields = [ProxyHeaders.attempts: String(attempts)]
        if let lastFailure {
            headers[ProxyHeaders.provider] = lastFailure.provider
            headers[ProxyHeaders.keyID] = lastFailure.keyID
            if let lastModel { headers[ProxyHeaders.model] = lastModel }
        }
        if let earliestRetryMillis {
            headers[.retryAfter] = String(max(1, (earliestRetryMillis + 999) / 1000))
        } else if lastFailure == nil {
            headers[.retryAfter] = "1"
        }
        return error.with(headers)
    }
}
