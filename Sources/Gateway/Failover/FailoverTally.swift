import HTTPTypes
import KeyPool

/// What one request's tries came to, for the answer when no candidate could serve it.
struct FailoverTally: Sendable {
    /// Upstream requests made (reported as `x-gateway-attempts`).
    private(set) var attempts = 0
    private(set) var lastFailure: UpstreamFailure?
    /// When the earliest refused or failed key frees up, in ms from now.
    private var earliestRetryMillis: Int64?
    private var refusedByLimits = false
    private var refusedByBreaker = false

    mutating func attempted() { attempts += 1 }

    mutating func refused(retryAfterMillis: Int64, reason: RefusalReason) {
        switch reason {
        case .windowsFull, .coolingDown: refusedByLimits = true
        case .circuitOpen: refusedByBreaker = true
        case .exhausted: return  // every key was tried here; their failures say the rest
        }
        note(retryAfterMillis)
    }

    mutating func failed(_ failure: UpstreamFailure, cooldownMillis: Int64) {
        lastFailure = failure
        note(cooldownMillis)
    }

    private mutating func note(_ millis: Int64) {
        earliestRetryMillis = min(earliestRetryMillis ?? millis, millis)
    }

    /// The answer when every candidate is exhausted: the last upstream failure when a try was
    /// made (429, 502 or 504), else 429 when keys are at their limits or cooling down, or 503 when
    /// only open circuit breakers stood in the way. Retry-After says when a key frees up.
    func error(model: String) -> GatewayError {
        var error: GatewayError
        if let lastFailure {
            error = lastFailure.clientError
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
        }
        if let earliestRetryMillis {
            headers[.retryAfter] = String(max(1, (earliestRetryMillis + 999) / 1000))
        } else if lastFailure == nil {
            headers[.retryAfter] = "1"
        }
        return error.with(headers)
    }
}
