import Foundation

/// The usage store shared by every replica: all state in Redis, changed only by Lua scripts.
///
/// Each reserve and each settle is one EVALSHA round trip, shared under load: calls for one
/// provider that arrive while its previous call is in flight go together in the next one
/// (`CallBatcher`), so Redis runs one script per batch and replicas stay exact, because a
/// script handles its batch's requests one after another.
public final class RedisUsageStore: UsageStore {
    /// The most requests one script handles: bounds how long one script holds Redis.
    static let maxBatch = 64

    private let calls: RedisUsageCalls
    private let reserves: CallBatcher<RedisUsageCalls.ReserveCall, Reservation>
    private let settles: CallBatcher<RedisUsageCalls.SettleCall, Void>

    /// `testClock` is set only by tests: it replaces Redis `TIME` so tests move time instead of
    /// sleeping.
    public init(redis: RedisClient, testClock: (any StoreClock)? = nil) {
        let calls = RedisUsageCalls(redis: redis, testClock: testClock)
        self.calls = calls
        // One reserve script takes one pool descriptor: a reload between two calls of a
        // provider puts them in separate batches.
        // A caller waits behind the calls in flight for at most the command timeout, as long as
        // it would wait for a reply of its own.
        let maxWait = redis.configuration.commandTimeout
        reserves = CallBatcher(maxBatch: Self.maxBatch, maxWait: maxWait, compatible: { $0.pool == $1.pool }) {
            try await calls.reserve($0)
        }
        settles = CallBatcher(maxBatch: Self.maxBatch, maxWait: maxWait, compatible: { _, _ in true }) {
            try await calls.settle($0)
        }
    }

    public func reserve(_ pool: KeyPoolDescriptor, estimatedTokens: Int, excluding: Set<String>) async throws -> Reservation {
        try await reserves.submit(
            .init(pool: pool, estimatedTokens: TokenCount.clamped(estimatedTokens), excluding: excluding), group: pool.provider)
    }

    public func settle(_ lease: Lease, actualTokens: Int) async throws {
        try await settles.submit(.init(lease: lease, actualTokens: TokenCount.clamped(actualTokens), release: false), group: lease.provider)
    }

    public func release(_ lease: Lease) async throws {
        try await settles.submit(.init(lease: lease, actualTokens: 0, release: true), group: lease.provider)
    }

    public func fail(_ lease: Lease, pool: KeyPoolDescriptor, failure: KeyFailure) async throws -> Bool {
        try await calls.fail(lease, pool: pool, failure: failure)
    }

    public func snapshot(_ pools: [KeyPoolDescriptor]) async throws -> [ProviderUsage] {
        try await calls.snapshot(pools)
    }
}
