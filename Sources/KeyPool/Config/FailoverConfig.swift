/// The optional `failover` object: how the gateway reacts when an upstream says no.
public struct FailoverConfig: Sendable, Equatable {
    /// Upstream tries for one candidate (a model on one provider entry), each on another key.
    /// A request with fallbacks or `auto-model` may make this many tries per candidate.
    public var maxAttempts: Int
    /// Cooldown after a 429 that names no reset time (no Retry-After or rate-limit reset header).
    public var rateLimitCooldownSeconds: Double
    /// Penalty after a 5xx, 529, timeout or connection failure, unless the answer gave Retry-After.
    public var errorCooldownSeconds: Double
    /// How long a key the upstream rejects (401, 402, 403) stays disabled.
    public var authDisableSeconds: Double
    /// Upper bound on any cooldown an upstream asks for, so a wrong reset header cannot park a
    /// key for days.
    public var maxCooldownSeconds: Double
    /// How long a provider whose keys all fail is skipped; 0 turns the circuit breaker off.
    public var circuitBreakerSeconds: Double
    /// A key's failure counts toward the breaker for this long (unless the key succeeds since).
    public var circuitBreakerWindowSeconds: Double

    public init(
        maxAttempts: Int = 3, rateLimitCooldownSeconds: Double = 60, errorCooldownSeconds: Double = 5,
        authDisableSeconds: Double = 3600, maxCooldownSeconds: Double = 3600, circuitBreakerSeconds: Double = 30,
        circuitBreakerWindowSeconds: Double = 60
    ) {
        self.maxAttempts = maxAttempts
        self.rateLimitCooldownSeconds = rateLimitCooldownSeconds
        self.errorCooldownSeconds = errorCooldownSeconds
        self.authDisableSeconds = authDisableSeconds
        self.maxCooldownSeconds = maxCooldownSeconds
        self.circuitBreakerSeconds = circuitBreakerSeconds
        self.circuitBreakerWindowSeconds = circuitBreakerWindowSeconds
    }
}
