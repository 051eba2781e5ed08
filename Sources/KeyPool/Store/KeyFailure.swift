/// What an upstream failure costs the key that met it (see `UsageStore.fail`).
public struct KeyFailure: Sendable, Equatable {
    /// How long the key stays out of selection, counted from the store's clock (Redis `TIME`),
    /// so every replica sees the same end. A running longer cooldown is never shortened.
    public var cooldownMillis: Int64
    /// Shown in /v1/usage as the key's cooldown reason (`rate_limited`, `server_error`,
    /// `timeout`, `unreachable`, `auth_rejected` ...).
    public var reason: String
    /// Set for failures that say the provider itself is failing (5xx, 529, timeouts, connection
    /// failures): they count toward the provider's circuit breaker.
    public var breaker: CircuitBreakerPolicy?

    /// The reason of a cooldown for a rate limit. Any other reason is a failure: when every key
    /// cools down for one, reserve refuses with `.keysFailing` instead of `.coolingDown`.
    public static let rateLimitedReason = "rate_limited"

    public init(cooldownMillis: Int64, reason: String, breaker: CircuitBreakerPolicy? = nil) {
        self.cooldownMillis = cooldownMillis
        self.reason = reason
        self.breaker = breaker
    }
}

/// When a provider is skipped as a whole.
///
/// A key is *failing* when its latest upstream outcome was a breaker-counted failure no older
/// than `windowMillis` (a settled answer on that key clears it). When a counted failure leaves
/// every key of the provider failing or cooling down (any reason), the provider's breaker opens:
/// every reserve for it is refused with `.circuitOpen` for `openMillis`. Afterwards traffic
/// resumes; the keys' failure marks are still recent, so one more counted failure opens it
/// again at once (the half-open probe), while one success closes it for good.
public struct CircuitBreakerPolicy: Sendable, Equatable {
    public var windowMillis: Int64
    public var openMillis: Int64

    public init(windowMillis: Int64, openMillis: Int64) {
        self.windowMillis = windowMillis
        self.openMillis = openMillis
    }
}
