import Foundation
import Synchronization

/// The usage store shared by every replica: all state in Redis, changed only by Lua scripts,
/// one EVALSHA per reserve and one per settle.
public final class RedisUsageStore: UsageStore {
    private let redis: RedisClient
    /// Set only by tests: replaces Redis `TIME` so tests move time instead of sleeping.
    private let testClock: (any StoreClock)?

    /// UTC offsets per time zone, valid until the next transition or for an hour: Foundation's
    /// time zone lookups cost more than the rest of a reserve on the replica's side.
    private let offsetCache = Mutex([String: (validUntil: Int64, header: [Double])]())

    public init(redis: RedisClient, testClock: (any StoreClock)? = nil) {
        self.redis = redis
        self.testClock = testClock
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

    public func reserve(_ pool: KeyPoolDescriptor, estimatedTokens: Int, excluding: Set<String>) async throws -> Reservation {
        let limits = pool.limits
        var arguments = RedisCommand()
        arguments.appendPacked(timeHeader(pool.timeZone) + [
            pool.gapPercentage, Double(estimatedTokens),
            Double(limits.requestsPerMinute ?? 0), Double(limits.tokensPerMinute ?? 0),
            Double(limits.requestsPerDay ?? 0), Double(limits.tokensPerDay ?? 0),
            Double(pool.keyIDs.count),
        ])
        arguments.append(Self.bucketDelta(tokens: estimatedTokens, requests: 1))
        for id in pool.keyIDs { arguments.append(id) }
        for id in excluding { arguments.append(id) }
        let reply = try await redis.evalSHA(UsageScripts.reserve, keys: Keys.all(pool), arguments: arguments).checked()
        guard let items = reply.array, items.count >= 3, let granted = items[0].int else {
            throw RedisError(.server, "unexpected reserve reply \(reply)")
        }
        if granted == 1, items.count == 4, let index = items[1].int, let second = items[2].int, let day = items[3].int,
            index >= 1, index <= pool.keyIDs.count
        {
            return .granted(Lease(
                provider: pool.provider, keyID: pool.keyIDs[Int(index) - 1],
                second: second, day: day, reservedTokens: estimatedTokens))
        }
        guard let retryAfter = items[1].int, let reason = items[2].string.flatMap(RefusalReason.init(rawValue:)) else {
            throw RedisError(.server, "unexpected reserve reply \(reply)")
        }
        return .refused(retryAfterMillis: max(0, retryAfter), reason: reason)
    }

    public func settle(_ lease: Lease, actualTokens: Int) async throws {
        try await settle(lease, actualTokens: actualTokens, release: false)
    }

    public func release(_ lease: Lease) async throws {
        try await settle(lease, actualTokens: 0, release: true)
    }

    private func settle(_ lease: Lease, actualTokens: Int, release: Bool) async throws {
        let tokenDelta = release ? -lease.reservedTokens : actualTokens - lease.reservedTokens
        let arguments = [
            lease.keyID, String(lease.second), String(lease.day), String(lease.reservedTokens),
            String(actualTokens), release ? "1" : "0",
            Self.bucketDelta(tokens: tokenDelta, requests: release ? -1 : 0),
        ]
        _ = try await redis.evalSHA(
            UsageScripts.settle,
            keys: [Keys.state(lease.provider), Keys.buckets(lease.provider, lease.keyID)],
            arguments: arguments
        ).checked()
    }

    public func fail(_ lease: Lease, pool: KeyPoolDescriptor, failure: KeyFailure) async throws -> Bool {
        var arguments = RedisCommand()
        arguments.appendPacked(timeHeader(pool.timeZone) + [
            Double(lease.second), Double(lease.day), Double(lease.reservedTokens), Double(failure.cooldownMillis),
            Double(failure.breaker?.windowMillis ?? 0), Double(failure.breaker?.openMillis ?? 0),
            Double(pool.keyIDs.count),
        ])
        arguments.append(lease.keyID)
        arguments.append(Self.bucketDelta(tokens: -lease.reservedTokens, requests: -1))
        arguments.append(failure.reason)
        for id in pool.keyIDs { arguments.append(id) }
        let reply = try await redis.evalSHA(
            UsageScripts.fail,
            keys: [Keys.state(lease.provider), Keys.buckets(lease.provider, lease.keyID)],
            arguments: arguments
        ).checked()
        return reply.int == 1
    }

    public func snapshot(_ pools: [KeyPoolDescriptor]) async throws -> [ProviderUsage] {
        var result: [ProviderUsage] = []
        for pool in pools {
            var arguments = RedisCommand()
            arguments.appendPacked(timeHeader(pool.timeZone) + [Double(pool.keyIDs.count)])
            for id in pool.keyIDs { arguments.append(id) }
            let reply = try await redis.evalSHA(UsageScripts.snapshot, keys: Keys.all(pool), arguments: arguments).checked()
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
    static func bucketDelta(tokens: Int, requests: Int) -> String {
        String(tokens << 20 + requests)
    }

    /// The header every clocked script starts with: the test clock's now (or 0 for Redis TIME)
    /// and the zone's UTC offsets around now, taken from this replica's clock. Only the day a
    /// DST change falls on depends on that clock, and only when clocks disagree by more than the
    /// time to it.
    private func timeHeader(_ zone: TimeZone) -> [Double] {
        let testNow = testClock?.nowMillis()
        let seconds = (testNow ?? SystemStoreClock().nowMillis()) / 1000
        if testNow == nil, let cached = offsetCache.withLock({ $0[zone.identifier] }), seconds < cached.validUntil {
            return [0] + cached.header
        }
        let offsets = DayMath.offsets(zone, atSeconds: seconds)
        let header = [Double(offsets.now), Double(offsets.transition), Double(offsets.after)]
        if testNow == nil {
            let validUntil = offsets.transition > seconds ? min(offsets.transition, seconds + 3600) : seconds + 3600
            offsetCache.withLock { $0[zone.identifier] = (validUntil, header) }
        }
        return [Double(testNow ?? 0)] + header
    }
}
