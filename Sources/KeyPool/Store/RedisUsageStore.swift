import Foundation

/// The usage store shared by every replica: all state in Redis, changed only by Lua scripts,
/// one EVALSHA per reserve and one per settle.
public final class RedisUsageStore: UsageStore {
    private let redis: RedisClient
    /// Set only by tests: replaces Redis `TIME` so tests move time instead of sleeping.
    private let testClock: (any StoreClock)?

    public init(redis: RedisClient, testClock: (any StoreClock)? = nil) {
        self.redis = redis
        self.testClock = testClock
    }

    /// Redis key names of a provider; the `{provider}` hash tag puts them all in one slot.
    enum Keys {
        static func current(_ provider: String) -> String { "gw:{\(provider)}:cur" }
        static func cooldowns(_ provider: String) -> String { "gw:{\(provider)}:cool" }
        static func stats(_ provider: String) -> String { "gw:{\(provider)}:stats" }
        static func key(_ provider: String, _ id: String) -> String { "gw:{\(provider)}:k:\(id)" }
    }

    public func reserve(_ pool: KeyPoolDescriptor, estimatedTokens: Int, excluding: Set<String>) async throws -> Reservation {
        var keys = [Keys.current(pool.provider), Keys.cooldowns(pool.provider), Keys.stats(pool.provider)]
        keys.reserveCapacity(3 + pool.keys.count)
        var arguments = timeArguments(pool.timeZone)
        arguments.reserveCapacity(7 + pool.keys.count * 6)
        arguments.append(String(pool.gapPercentage))
        arguments.append(String(estimatedTokens))
        arguments.append(String(pool.keys.count))
        for key in pool.keys {
            keys.append(Keys.key(pool.provider, key.id))
            arguments.append(key.id)
            arguments.append(String(key.limits.requestsPerMinute ?? 0))
            arguments.append(String(key.limits.tokensPerMinute ?? 0))
            arguments.append(String(key.limits.requestsPerDay ?? 0))
            arguments.append(String(key.limits.tokensPerDay ?? 0))
            arguments.append(excluding.contains(key.id) ? "1" : "0")
        }
        let reply = try await redis.evalSHA(UsageScripts.reserve, keys: keys, arguments: arguments).checked()
        guard let items = reply.array, items.count >= 3, let granted = items[0].int else {
            throw RedisError(.server, "unexpected reserve reply \(reply)")
        }
        if granted == 1, items.count == 4, let index = items[1].int, let second = items[2].int, let day = items[3].int,
            index >= 1, index <= pool.keys.count
        {
            return .granted(Lease(
                provider: pool.provider, keyID: pool.keys[Int(index) - 1].id,
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
        let arguments = [
            lease.keyID, String(lease.second), String(lease.day), String(lease.reservedTokens),
            String(actualTokens), release ? "1" : "0",
        ]
        _ = try await redis.evalSHA(
            UsageScripts.settle,
            keys: [Keys.key(lease.provider, lease.keyID), Keys.stats(lease.provider)],
            arguments: arguments
        ).checked()
    }

    public func cooldown(provider: String, keyID: String, untilMillis: Int64, reason: String) async throws {
        _ = try await redis.evalSHA(
            UsageScripts.cooldown, keys: [Keys.cooldowns(provider)],
            arguments: [keyID, String(untilMillis), reason]
        ).checked()
    }

    public func snapshot(_ pools: [KeyPoolDescriptor]) async throws -> [ProviderUsage] {
        var result: [ProviderUsage] = []
        for pool in pools {
            var keys = [Keys.current(pool.provider), Keys.cooldowns(pool.provider), Keys.stats(pool.provider)]
            var arguments = timeArguments(pool.timeZone)
            arguments.append(String(pool.keys.count))
            for key in pool.keys {
                keys.append(Keys.key(pool.provider, key.id))
                arguments.append(key.id)
            }
            let reply = try await redis.evalSHA(UsageScripts.snapshot, keys: keys, arguments: arguments).checked()
            guard let items = reply.array, items.count == 2 + 8 * pool.keys.count else {
                throw RedisError(.server, "unexpected snapshot reply \(reply)")
            }
            let current = items[0].string.flatMap { $0.isEmpty ? nil : $0 }
            var usages: [ProviderUsage.KeyUsage] = []
            for (index, key) in pool.keys.enumerated() {
                let base = 2 + index * 8
                func int(_ offset: Int) -> Int { Int(items[base + offset].int ?? 0) }
                let until = items[base + 6].int ?? 0
                usages.append(ProviderUsage.KeyUsage(
                    id: key.id, limits: key.limits,
                    requestsMinute: int(0), tokensMinute: int(1), requestsDay: int(2), tokensDay: int(3),
                    totalRequests: int(4), totalTokens: int(5),
                    cooldownUntilMillis: until > 0 ? until : nil,
                    cooldownReason: until > 0 ? items[base + 7].string : nil))
            }
            result.append(ProviderUsage(provider: pool.provider, currentKeyID: current, keys: usages))
        }
        return result
    }

    /// The prelude's four time arguments: the test clock's now (or 0 for Redis TIME) and the
    /// zone's UTC offsets around now, taken from this replica's clock. Only the day a DST change
    /// falls on depends on that clock, and only when clocks disagree by more than the time to it.
    private func timeArguments(_ zone: TimeZone) -> [String] {
        let testNow = testClock?.nowMillis()
        let seconds = (testNow ?? SystemStoreClock().nowMillis()) / 1000
        let offsets = DayMath.offsets(zone, atSeconds: seconds)
        return [String(testNow ?? 0), String(offsets.now), String(offsets.transition), String(offsets.after)]
    }
}
