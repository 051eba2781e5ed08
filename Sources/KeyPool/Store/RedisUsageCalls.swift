import Foundation
import Synchronization

/// The script calls behind `RedisUsageStore`: one EVALSHA per batch of reserves, one per batch
/// of settles and releases, one per failure, one per snapshot.
final class RedisUsageCalls: Sendable {
    private let redis: RedisClient
    /// Set only by tests: replaces Redis `TIME` so tests move time instead of sleeping.
    private let testClock: (any StoreClock)?

    /// UTC offsets per time zone, valid until the next transition or for an hour: Foundation's
    /// time zone lookups cost more than the rest of a reserve on the replica's side.
    private let offsetCache = Mutex([String: (validUntil: Int64, header: [Double])]())

    /// KEYS of each provider's clocked scripts and its key ids as arguments, formatted for the
    /// wire once per key set: eleven string interpolations and 21 formatted arguments per
    /// reserve (10 keys) were a measurable part of the replica's side.
    private let keysCache = Mutex([String: PoolArguments]())

    /// A pool's KEYS and its key ids as script arguments, formatted once.
    private struct PoolArguments: Sendable {
        let ids: [String]
        let keys: RedisCommand
        let idArguments: RedisCommand
    }

    /// Redis's clock minus this replica's (ms), the least that reserves' replies showed
    /// (`Int64.max` until the first). It puts the client's command timeout on Redis's clock, as
    /// each reserve's deadline.
    private let redisClockOffset = Atomic<Int64>(.max)
    /// How long the client waits for a reply before it gives up on the connection (ms).
    private let commandTimeoutMillis: Int64

    init(redis: RedisClient, testClock: (any StoreClock)?) {
        self.redis = redis
        self.testClock = testClock
        commandTimeoutMillis = Int64(redis.configuration.commandTimeout.microseconds / 1000)
    }

    /// Redis key names of a provider; the `{provider}` hash tag puts them all in one slot.
    enum Keys {
        /// The provider's hot state: current key, per-key totals, days and cooldowns.
        static func state(_ provider: String) -> String { "gw:{\(provider)}:w" }
        /// One key's per-second buckets of the rolling minute.
        static func buckets(_ provider: String, _ id: String) -> String { "gw:{\(provider)}:k:\(id)" }

        /// KEYS of the clocked scripts: the provider's state, then each key's buckets in order.
        static func all(_ pool: KeyPoolDescriptor) -> [String] {
            [state(pool.provider)] + pool.keyIDs.map { buckets(pool.provider, $0) }
        }
    }

    /// A reserve request waiting for (or in) a batch.
    struct ReserveCall: Sendable {
        let pool: KeyPoolDescriptor
        let estimatedTokens: Int
        let excluding: Set<String>
    }

    /// A settle or release waiting for (or in) a batch.
    struct SettleCall: Sendable {
        let lease: Lease
        let actualTokens: Int
        let release: Bool
    }

    /// Reserves for requests of one pool (the batcher groups them by equal descriptors).
    ///
    /// Each script carries a deadline on Redis's clock: when the client stops waiting for it.
    /// Without one, a reserve queued behind a slow command outlived its caller's timeout and ran
    /// afterwards, leaving counts no settle or release took back. A reply saying the deadline
    /// passed reaches a caller only when the deadline was wrong (a clock stepped since the
    /// offset was learned, or replies kept the connection alive that long): the call is made
    /// once more, with the offset that reply taught. (A Redis process paused outright, SIGSTOP
    /// or a frozen VM, answers its first commands after it resumes with the time it had before
    /// the pause on Redis 7.0, so this deadline cannot catch that case; see architecture.md.)
    func reserve(_ calls: [ReserveCall]) async throws -> [Reservation] {
        if let reservations = try await reserveOnce(calls) { return reservations }
        if let reservations = try await reserveOnce(calls) { return reservations }
        throw RedisError(.timeout, "the reserve reached Redis after its deadline twice")
    }

    /// One reserve script; nil when Redis ran it past its deadline (nothing was reserved).
    private func reserveOnce(_ calls: [ReserveCall]) async throws -> [Reservation]? {
        let pool = calls[0].pool
        let limits = pool.limits
        let sentAt = SystemStoreClock().nowMillis()
        let offset = redisClockOffset.load(ordering: .relaxed)
        let deadline = testClock == nil && offset != .max ? sentAt + offset + commandTimeoutMillis : 0
        // Built in place: the array literals and concatenations this replaced were a measurable
        // part of a lone reserve's client-side time.
        var header = timeHeader(pool.timeZone, systemNow: sentAt, capacity: 12 + 2 * calls.count)
        header.append(pool.gapPercentage)
        header.append(Double(limits.requestsPerMinute ?? 0))
        header.append(Double(limits.tokensPerMinute ?? 0))
        header.append(Double(limits.requestsPerDay ?? 0))
        header.append(Double(limits.tokensPerDay ?? 0))
        header.append(Double(pool.keyIDs.count))
        header.append(Double(calls.count))
        header.append(Double(deadline))
        for call in calls {
            header.append(Double(call.estimatedTokens))
            header.append(Double(call.excluding.count))
        }
        let formatted = poolArguments(pool)
        var arguments = RedisCommand()
        arguments.reserveCapacity(header.count * 8 + formatted.idArguments.byteCount + calls.count * 24 + 16)
        arguments.appendPacked(header)
        arguments.append(contentsOf: formatted.idArguments)
        for call in calls { arguments.append(Self.bucketDelta(tokens: call.estimatedTokens, requests: 1)) }
        for call in calls { for id in call.excluding { arguments.append(id) } }
        let reply = try await redis.evalSHA(UsageScripts.reserve, keys: formatted.keys, arguments: arguments).checked()
        guard let items = reply.array, items.count == calls.count + 3 || items.count == 3,
            let second = items[0].int, let day = items[1].int, let redisNow = items[2].int
        else {
            throw RedisError(.server, "unexpected reserve reply \(reply)")
        }
        // Measured from the send, so each reading errs late by the request's way there (and a
        // deadline built from it never falls before the client's own timeout). The least reading
        // is the closest: one slow call (a script load, a busy machine) would otherwise push the
        // next deadline back by its delay. A reply past its deadline means the offset is wrong
        // (this replica's clock stepped back): that reading replaces it.
        if testClock == nil {
            let reading = redisNow - sentAt
            if items.count == 3 {
                redisClockOffset.store(reading, ordering: .relaxed)
            } else {
                redisClockOffset.min(reading, ordering: .relaxed)
            }
        }
        if items.count == 3 { return nil }
        return try zip(calls, items.dropFirst(3)).map { call, item in
            if let (index, keyDay) = Self.grant(item, day: day), index >= 1, index <= pool.keyIDs.count {
                return .granted(Lease(
                    provider: pool.provider, keyID: pool.keyIDs[index - 1],
                    second: second, day: keyDay, reservedTokens: call.estimatedTokens))
            }
            guard let refusal = item.array, refusal.count == 2, let retryAfter = refusal[0].int,
                let reason = refusal[1].string.flatMap(RefusalReason.init(rawValue:))
            else {
                throw RedisError(.server, "unexpected reserve reply \(reply)")
            }
            return .refused(retryAfterMillis: max(0, retryAfter), reason: reason)
        }
    }

    /// A grant: the key's index, with the day it counts. That is the script's day, unless the
    /// key already counts a later one (`{index, day}`: another replica's time zone is further
    /// east), which the lease must carry for its settle to correct the day's totals.
    private static func grant(_ item: RedisReply, day: Int64) -> (index: Int, day: Int64)? {
        if let index = item.int { return (Int(index), day) }
        if let pair = item.array, pair.count == 2, let index = pair[0].int, let keyDay = pair[1].int {
            return (Int(index), keyDay)
        }
        return nil
    }

    /// Settles and releases leases of one provider.
    func settle(_ calls: [SettleCall]) async throws -> [Void] {
        let provider = calls[0].lease.provider
        // The distinct key ids, numbered from 1 in order of appearance (their KEYS follow the state's).
        var ids: [String] = []
        var indexOf: [String: Int] = [:]
        var items: [Double] = []
        for call in calls {
            let lease = call.lease
            let index = indexOf[lease.keyID] ?? {
                ids.append(lease.keyID)
                indexOf[lease.keyID] = ids.count
                return ids.count
            }()
            items += [
                Double(index), Double(lease.day), Double(lease.reservedTokens),
                Double(call.release ? 0 : call.actualTokens), call.release ? 1 : 0,
            ]
        }
        var arguments = RedisCommand()
        arguments.appendPacked([Double(calls.count), Double(ids.count)] + items)
        for id in ids { arguments.append(id) }
        for call in calls {
            let lease = call.lease
            arguments.append(lease.second)
            arguments.append(call.release
                ? Self.refundDelta(lease)
                : Self.bucketDelta(tokens: call.actualTokens - lease.reservedTokens, requests: 0))
        }
        _ = try await redis.evalSHA(
            UsageScripts.settle,
            keys: [Keys.state(provider)] + ids.map { Keys.buckets(provider, $0) },
            arguments: arguments
        ).checked()
        return Array(repeating: (), count: calls.count)
    }

    func fail(_ lease: Lease, pool: KeyPoolDescriptor, failure: KeyFailure) async throws -> Bool {
        var arguments = RedisCommand()
        arguments.appendPacked(timeHeader(pool.timeZone) + [
            Double(lease.second), Double(lease.day), Double(lease.reservedTokens), Double(failure.cooldownMillis),
            Double(failure.breaker?.windowMillis ?? 0), Double(failure.breaker?.openMillis ?? 0),
            Double(pool.keyIDs.count),
        ])
        arguments.append(lease.keyID)
        arguments.append(Self.refundDelta(lease))
        arguments.append(failure.reason)
        arguments.append(contentsOf: poolArguments(pool).idArguments)
        let reply = try await redis.evalSHA(
            UsageScripts.fail,
            keys: [Keys.state(lease.provider), Keys.buckets(lease.provider, lease.keyID)],
            arguments: arguments
        ).checked()
        return reply.int == 1
    }

    func snapshot(_ pools: [KeyPoolDescriptor]) async throws -> [ProviderUsage] {
        var result: [ProviderUsage] = []
        for pool in pools {
            let formatted = poolArguments(pool)
            var arguments = RedisCommand()
            arguments.appendPacked(timeHeader(pool.timeZone) + [Double(pool.keyIDs.count)])
            arguments.append(contentsOf: formatted.idArguments)
            let reply = try await redis.evalSHA(UsageScripts.snapshot, keys: formatted.keys, arguments: arguments).checked()
            guard let items = reply.array, items.count == 2 + 8 * pool.keyIDs.count else {
                throw RedisError(.server, "unexpected snapshot reply \(reply)")
            }
            let current = items[0].string.flatMap { $0.isEmpty ? nil : $0 }
            let breaker = items[1].int ?? 0
            var usages: [ProviderUsage.KeyUsage] = []
            for (index, id) in pool.keyIDs.enumerated() {
                let base = 2 + index * 8
                func int(_ offset: Int) -> Int { Int(items[base + offset].int ?? 0) }
                let until = items[base + 6].int ?? 0
                usages.append(ProviderUsage.KeyUsage(
                    id: id, limits: pool.limits,
                    requestsMinute: int(0), tokensMinute: int(1), requestsDay: int(2), tokensDay: int(3),
                    totalRequests: int(4), totalTokens: int(5),
                    cooldownUntilMillis: until > 0 ? until : nil,
                    cooldownReason: until > 0 ? items[base + 7].string : nil))
            }
            result.append(ProviderUsage(
                provider: pool.provider, currentKeyID: current, keys: usages,
                circuitOpenUntilMillis: breaker > 0 ? breaker : nil))
        }
        return result
    }

    /// A minute bucket holds tokens * 2^20 + requests in one integer (one HINCRBY per change).
    static func bucketDelta(tokens: Int, requests: Int) -> Int64 {
        Int64(tokens << 20 + requests)
    }

    /// The bucket change that takes a lease back: its request and its reserved tokens.
    static func refundDelta(_ lease: Lease) -> Int64 {
        bucketDelta(tokens: -lease.reservedTokens, requests: -1)
    }

    /// `Keys.all(pool)` and the key ids, formatted once per provider and key set (a reload that
    /// changes the keys rebuilds them).
    private func poolArguments(_ pool: KeyPoolDescriptor) -> PoolArguments {
        if let cached = keysCache.withLock({ $0[pool.provider] }), cached.ids == pool.keyIDs { return cached }
        var keys = RedisCommand()
        for key in Keys.all(pool) { keys.append(key) }
        var idArguments = RedisCommand()
        for id in pool.keyIDs { idArguments.append(id) }
        let built = PoolArguments(ids: pool.keyIDs, keys: keys, idArguments: idArguments)
        keysCache.withLock { $0[pool.provider] = built }
        return built
    }

    /// The header every clocked script starts with: the test clock's now (or 0 for Redis TIME)
    /// and the zone's UTC offsets around now, taken from this replica's clock. Only the day a
    /// DST change falls on depends on that clock, and only when clocks disagree by more than the
    /// time to it. `systemNow`: this replica's clock, when the caller has read it already.
    /// `capacity`: room for what the caller appends (the reserve builds its header in place).
    private func timeHeader(_ zone: TimeZone, systemNow: Int64? = nil, capacity: Int = 4) -> [Double] {
        var header: [Double] = []
        header.reserveCapacity(capacity)
        let testNow = testClock?.nowMillis()
        let seconds = (testNow ?? systemNow ?? SystemStoreClock().nowMillis()) / 1000
        header.append(Double(testNow ?? 0))
        if testNow == nil, let cached = offsetCache.withLock({ $0[zone.identifier] }), seconds < cached.validUntil {
            header.append(contentsOf: cached.header)
            return header
        }
        let offsets = DayMath.offsets(zone, atSeconds: seconds)
        let offsetsHeader = [Double(offsets.now), Double(offsets.transition), Double(offsets.after)]
        if testNow == nil {
            let validUntil = offsets.transition > seconds ? min(offsets.transition, seconds + 3600) : seconds + 3600
            offsetCache.withLock { $0[zone.identifier] = (validUntil, offsetsHeader) }
        }
        header.append(contentsOf: offsetsHeader)
        return header
    }
}
