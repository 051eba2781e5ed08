/// Where per-key windows, cooldowns, the providers' current keys and usage live.
///
/// `RedisUsageStore` shares them between any number of replicas; `MemoryUsageStore` keeps them
/// in one process (the embedded default when no Redis is configured). Both pass one conformance
/// suite. Callers pass the provider's key set with every call, so a config reload takes effect
/// on the next call and the store holds no config of its own.
public protocol UsageStore: Sendable {
    /// Picks a key of the pool by the usage-gap rule among keys with room in every window and no
    /// cooldown, and reserves one request and `estimatedTokens` tokens on it, atomically.
    func reserve(_ pool: KeyPoolDescriptor, estimatedTokens: Int, excluding: Set<String>) async throws -> Reservation

    /// Corrects the token windows from the reservation's estimate to what the upstream reported.
    func settle(_ lease: Lease, actualTokens: Int) async throws

    /// Refunds a reservation the upstream never accepted: neither the request nor its tokens count.
    func release(_ lease: Lease) async throws

    /// After an upstream failure, in one step for every replica: refunds `lease` as `release`
    /// does, keeps its key out of selection for `failure.cooldownMillis` from the store's clock,
    /// and, for breaker-counted failures, marks the key failing and opens the provider's circuit
    /// breaker when every key of `pool` is failing or cooling down. Returns true when this call
    /// opened the breaker.
    func fail(_ lease: Lease, pool: KeyPoolDescriptor, failure: KeyFailure) async throws -> Bool

    /// Current windows, cooldowns and totals of every key of the given pools, for /v1/usage.
    func snapshot(_ pools: [KeyPoolDescriptor]) async throws -> [ProviderUsage]
}

extension UsageStore {
    public func reserve(_ pool: KeyPoolDescriptor, estimatedTokens: Int) async throws -> Reservation {
        try await reserve(pool, estimatedTokens: estimatedTokens, excluding: [])
    }
}

/// The outcome of a reserve call.
public enum Reservation: Sendable, Equatable {
    case granted(Lease)
    /// No key can take the request now; `retryAfterMillis` says when the earliest one frees up.
    case refused(retryAfterMillis: Int64, reason: RefusalReason)

    public var lease: Lease? {
        if case .granted(let lease) = self { return lease }
        return nil
    }
}

public enum RefusalReason: String, Sendable, Equatable {
    /// Every key's request or token window is full.
    case windowsFull = "window_full"
    /// Every key with room is cooling down (or disabled).
    case coolingDown = "cooling_down"
    /// Every key was excluded by the caller (already tried).
    case exhausted = "exhausted"
    /// The provider's circuit breaker is open (its keys all failed recently).
    case circuitOpen = "circuit_open"
    /// Every key is cooling down after failing upstream (5xx, timeouts, connection failures,
    /// keys the provider rejected), none of them for a rate limit: a wait for a limit would
    /// not help, so the gateway answers 503, not 429. Takes precedence over full windows.
    case keysFailing = "keys_failing"
}

/// A granted reservation: which key, and where its request and tokens were counted.
public struct Lease: Sendable, Hashable {
    public let provider: String
    public let keyID: String
    /// The second (since 1970) whose minute bucket holds the reservation.
    public let second: Int64
    /// The calendar day (in the pool's time zone, days since 1970) that counted it.
    public let day: Int64
    public let reservedTokens: Int

    public init(provider: String, keyID: String, second: Int64, day: Int64, reservedTokens: Int) {
        self.provider = provider
        self.keyID = keyID
        self.second = second
        self.day = day
        self.reservedTokens = reservedTokens
    }
}
