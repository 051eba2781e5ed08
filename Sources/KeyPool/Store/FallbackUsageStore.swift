import Logging
import Synchronization

/// The gateway's store when Redis is configured: every call goes to Redis; while Redis cannot be
/// reached, `server.redis_failure_mode` decides. `fail_open` serves from a per-replica
/// `MemoryUsageStore` (limits then hold per replica only, and /health says `degraded`);
/// `fail_closed` refuses with `StoreUnavailableError` so shared limits are never exceeded.
///
/// Only connection failures switch to the fallback: a script error is a bug to surface, not an
/// outage to hide. Each call tries Redis first, so the gateway returns to shared state by itself
/// as soon as Redis is back (the client fails fast while it is down, so trying costs nothing).
public final class FallbackUsageStore: UsageStore {
    public let primary: any UsageStore
    public let fallback: MemoryUsageStore
    public let mode: RedisFailureMode
    /// Leases granted by the fallback, so their settle or release goes back to it. Only filled
    /// during an outage, and emptied as those requests finish.
    private let fallbackLeases = Mutex(Set<Lease>())
    /// Set while the last reserve or snapshot found Redis unreachable: the outage's start and end
    /// are each logged once (the operator's record of when limits held per replica only).
    private let inOutage = Atomic<Bool>(false)
    private let logger: Logger?
    /// Settles and releases of Redis leases that Redis could not take, made once it can.
    let backlog: SettleBacklog

    public init(
        primary: any UsageStore, fallback: MemoryUsageStore = MemoryUsageStore(), mode: RedisFailureMode, logger: Logger? = nil,
        settleRetryInterval: Duration = .seconds(1)
    ) {
        self.primary = primary
        self.fallback = fallback
        self.mode = mode
        self.logger = logger
        backlog = SettleBacklog(retryInterval: settleRetryInterval, logger: logger) { try await $0.make(on: primary) }
    }

    /// Settles waiting for Redis to take them (see `SettleBacklog`).
    public var keptSettles: Int { backlog.count }

    /// At shutdown: one last attempt at the kept settles, for at most `limit`.
    public func finishKeptSettles(within limit: Duration) async {
        await backlog.finish(within: limit)
    }

    public func reserve(_ pool: KeyPoolDescriptor, estimatedTokens: Int, excluding: Set<String>) async throws -> Reservation {
        do {
            let reservation = try await primary.reserve(pool, estimatedTokens: estimatedTokens, excluding: excluding)
            noteServed()
            return reservation
        } catch let error as RedisError where error.isConnectionError {
            noteOutage(error)
            guard mode == .failOpen else { throw StoreUnavailableError(underlying: error) }
            let reservation = try await fallback.reserve(pool, estimatedTokens: estimatedTokens, excluding: excluding)
            if let lease = reservation.lease { _ = fallbackLeases.withLock { $0.insert(lease) } }
            return reservation
        }
    }

    public func settle(_ lease: Lease, actualTokens: Int) async throws {
        try await finish(.init(lease: lease, actualTokens: actualTokens, release: false))
    }

    public func release(_ lease: Lease) async throws {
        try await finish(.init(lease: lease, actualTokens: 0, release: true))
    }

    /// A settle or release goes where its lease came from; one Redis could not take is kept.
    private func finish(_ entry: SettleBacklog.Entry) async throws {
        if fallbackLeases.withLock({ $0.remove(entry.lease) }) != nil {
            try await entry.make(on: fallback)
            return
        }
        do {
            try await entry.make(on: primary)
        } catch where SettleBacklog.keeps(error) {
            backlog.add(entry)
        }
    }

    public func fail(_ lease: Lease, pool: KeyPoolDescriptor, failure: KeyFailure) async throws -> Bool {
        if fallbackLeases.withLock({ $0.remove(lease) }) != nil {
            return try await fallback.fail(lease, pool: pool, failure: failure)
        }
        // The per-replica store learns of every cooldown (not the refund: the lease is not its
        // own), so an outage starts from what is known.
        fallback.noteCooldown(
            provider: lease.provider, keyID: lease.keyID, cooldownMillis: failure.cooldownMillis, reason: failure.reason)
        do {
            return try await primary.fail(lease, pool: pool, failure: failure)
        } catch let error as RedisError where error.isConnectionError {
            // The refund is kept as a release, like a settle (the cooldown is this replica's own
            // until Redis is back: noted above).
            if SettleBacklog.keeps(error) { backlog.add(.init(lease: lease, actualTokens: 0, release: true)) }
            guard mode == .failOpen else { throw StoreUnavailableError(underlying: error) }
            return false
        }
    }

    public func snapshot(_ pools: [KeyPoolDescriptor]) async throws -> [ProviderUsage] {
        do {
            let usage = try await primary.snapshot(pools)
            noteServed()
            return usage
        } catch let error as RedisError where error.isConnectionError {
            noteOutage(error)
            guard mode == .failOpen else { throw StoreUnavailableError(underlying: error) }
            return try await fallback.snapshot(pools)
        }
    }

    /// The first call that finds Redis unreachable logs the outage (one line, not one per call).
    private func noteOutage(_ error: RedisError) {
        guard inOutage.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        switch mode {
        case .failOpen:
            logger?.warning("shared store unavailable (\(error)): serving on this replica's own windows (fail_open) until Redis is back")
        case .failClosed:
            logger?.warning("shared store unavailable (\(error)): refusing requests with 503 (fail_closed) until Redis is back")
        }
    }

    /// The first call Redis serves after an outage logs its end. One relaxed load otherwise.
    private func noteServed() {
        guard inOutage.load(ordering: .relaxed),
            inOutage.compareExchange(expected: true, desired: false, ordering: .relaxed).exchanged
        else { return }
        logger?.notice("shared store is back: limits are shared again")
    }
}

/// The shared store cannot be reached and the config says to refuse rather than guess.
public struct StoreUnavailableError: Error, CustomStringConvertible {
    public let underlying: RedisError
    public var description: String { "usage store unavailable: \(underlying)" }
}
