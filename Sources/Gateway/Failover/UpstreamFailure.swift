import HTTPTypes
import KeyPool
import NIOCore
import NIOHTTP1

/// An attempt that failed before any byte reached the client, so another key, model or
/// provider may still serve the request: what happened, what it costs the key, and what the
/// client is told if nothing else works. Messages are the gateway's own: no upstream URL or key.
struct UpstreamFailure: Sendable {
    enum Kind: String, Sendable {
        /// 429: the key is over one of the provider's limits.
        case rateLimited = "rate_limited"
        /// 5xx (529 included), 408.
        case serverError = "server_error"
        /// No answer head within the timeout.
        case timeout
        /// No connection, or it broke before the answer was complete (or a stream's first event).
        case unreachable
        /// 401, 402, 403: the provider refuses the key itself; it is disabled for a while.
        case keyRejected = "auth_rejected"
    }

    let kind: Kind
    let provider: String
    let keyID: String
    /// The upstream's status, when it answered.
    let status: Int?
    /// How long the upstream asked us to wait, when it said (see `RetryDelay`).
    let retryAfterMillis: Int64?

    /// The failure for a non-2xx answer, or nil when the status is the client's problem (400,
    /// 404, 409, 413, 422 ...) and goes back to the client instead of to another key.
    static func classify(status: Int, headers: HTTPHeaders, body: ByteBuffer?, provider: String, keyID: String) -> UpstreamFailure? {
        let kind: Kind
        switch status {
        case 429: kind = .rateLimited
        case 401, 402, 403: kind = .keyRejected
        case 400 where body.map(rejectsTheKey) ?? false: kind = .keyRejected
        case 408, 500...599: kind = .serverError
        default: return nil
        }
        let delay = kind == .keyRejected ? nil : RetryDelay.millis(headers: headers, body: body)
        return UpstreamFailure(kind: kind, provider: provider, keyID: keyID, status: status, retryAfterMillis: delay)
    }

    /// Whether a 400 answer is Google's way of refusing the key: an `ErrorInfo` detail with
    /// `"reason": "API_KEY_INVALID"`, which Gemini (and its OpenAI-compatible endpoint) gives for
    /// a wrong, expired or deleted key. Relayed as the client's error it would blame the client,
    /// and the key, refunded and never charged, would stay the least used and take most of the
    /// traffic. Read as JSON, as a member of an object: an error message quoting the client's
    /// request holds that text inside a string, so a client cannot get a key disabled with it.
    static func rejectsTheKey(_ body: ByteBuffer) -> Bool {
        func search(_ value: JSONValue, depth: Int) -> Bool {
            switch value {
            case .object(let members) where depth < 8:
                members["reason"] == .string("API_KEY_INVALID") || members.values.contains { search($0, depth: depth + 1) }
            case .array(let elements) where depth < 8:
                elements.contains { search($0, depth: depth + 1) }
            default:
                false
            }
        }
        return AdapterJSON.decode(JSONValue.self, from: body).map { search($0, depth: 0) } ?? false
    }

    /// The failure for an upstream that could not be reached or did not answer in time.
    static func transport(_ error: any Error, provider: String, keyID: String) -> UpstreamFailure {
        let timedOut = (error as? UpstreamClientError)?.code == .timeout
        return UpstreamFailure(
            kind: timedOut ? .timeout : .unreachable, provider: provider, keyID: keyID, status: nil, retryAfterMillis: nil)
    }

    /// An error the provider reported inside its stream before the first event reached the
    /// client; nil when it is about the request (the client gets it as it is).
    static func streamError(_ error: GatewayError, provider: String, keyID: String) -> UpstreamFailure? {
        guard let kind = streamErrorKinds[error.code ?? ""] else { return nil }
        return UpstreamFailure(kind: kind, provider: provider, keyID: keyID, status: nil, retryAfterMillis: nil)
    }

    /// Error codes (or types) a provider sends inside a stream that say it is rate limiting the
    /// key or failing, rather than refusing the request: Anthropic's error types, Gemini's
    /// statuses, and what OpenAI (`rate_limit_exceeded` with type `requests` or `tokens`,
    /// `server_error`), Groq and OpenRouter (HTTP statuses as numbers) put in an error event.
    /// Before any content reached the client, such an error is a failure another key may mend.
    static let streamErrorKinds: [String: Kind] = [
        "rate_limit_error": .rateLimited, "RESOURCE_EXHAUSTED": .rateLimited, "rate_limit_exceeded": .rateLimited,
        "requests": .rateLimited, "tokens": .rateLimited, "429": .rateLimited,
        "overloaded_error": .serverError, "api_error": .serverError, "UNAVAILABLE": .serverError, "INTERNAL": .serverError,
        "DEADLINE_EXCEEDED": .serverError, "server_error": .serverError, "internal_error": .serverError,
        "service_unavailable": .serverError, "500": .serverError, "502": .serverError, "503": .serverError,
        "504": .serverError, "529": .serverError,
    ]

    /// Whether the failure says the provider is failing, rather than one key being refused.
    var countsTowardBreaker: Bool { kind == .serverError || kind == .timeout || kind == .unreachable }

    /// What the failure costs the key: a cooldown shared by every replica, and for provider
    /// failures a mark toward the circuit breaker.
    func keyFailure(_ policy: FailoverConfig) -> KeyFailure {
        // At least a second of what an upstream asks for: a `Retry-After: 0` must not send the
        // next request straight back. The configured times are used as they are.
        let asked = retryAfterMillis.map { max(1000, min($0, Int64(policy.maxCooldownSeconds * 1000))) }
        let cooldown: Int64
        switch kind {
        case .rateLimited: cooldown = asked ?? Int64(policy.rateLimitCooldownSeconds * 1000)
        case .serverError: cooldown = asked ?? Int64(policy.errorCooldownSeconds * 1000)
        case .timeout, .unreachable: cooldown = Int64(policy.errorCooldownSeconds * 1000)
        case .keyRejected: cooldown = Int64(policy.authDisableSeconds * 1000)
        }
        let breaker = countsTowardBreaker && policy.circuitBreakerSeconds > 0
            ? CircuitBreakerPolicy(
                windowMillis: Int64(policy.circuitBreakerWindowSeconds * 1000),
                openMillis: Int64(policy.circuitBreakerSeconds * 1000))
            : nil
        return KeyFailure(cooldownMillis: max(1, cooldown), reason: kind.rawValue, breaker: breaker)
    }

    /// What the client is told when this was the last try.
    var clientError: GatewayError {
        let statusText = status.map { " (status \($0))" } ?? ""
        switch kind {
        case .rateLimited:
            return GatewayError(
                .tooManyRequests, "The upstream provider '\(provider)' is rate limiting the keys that were tried.",
                type: "rate_limit_error", code: "upstream_rate_limited")
        case .serverError:
            return GatewayError(
                .badGateway, "The upstream provider '\(provider)' failed\(statusText).",
                type: "upstream_error", code: "upstream_error")
        case .timeout:
            return GatewayError(
                .gatewayTimeout, "The upstream provider '\(provider)' did not answer in time.",
                type: "upstream_error", code: "upstream_timeout")
        case .unreachable:
            return GatewayError(
                .badGateway, "The upstream provider '\(provider)' could not be reached.",
                type: "upstream_error", code: "upstream_unreachable")
        case .keyRejected:
            return GatewayError(
                .badGateway, "The upstream provider '\(provider)' rejected key \(keyID)\(statusText).",
                type: "upstream_error", code: "upstream_auth_failed")
        }
    }
}
