import Foundation
import Synchronization

/// The embedded store for a single replica: the same windows and rules as `RedisUsageStore`,
/// kept in this process under one lock. Nothing is shared with other processes and nothing
/// survives a restart.
public final class MemoryUsageStore: UsageStore {
    private let clock: any StoreClock
    private let state = Mutex([String: ProviderState]())

    public init(clock: any StoreClock = SystemStoreClock()) {
        self.clock = clock
    }

    private struct ProviderState {
        var current: String?
        var cooldowns: [String: (until: Int64, reason: String)] = [:]
        var keys: [String: KeyState] = [:]
    }

    private struct KeyState {
        /// Per-second buckets of the rolling minute: second -> (requests, tokens).
        var buckets: [Int64: (requests: Int, tokens: Int)] = [:]
        var requestsMinute = 0
        var tokensMinute = 0
        var day: Int64 = .min
        var requestsDay = 0
        var tokensDay = 0
        var totalRequests = 0
        var totalTokens = 0

        /// Drops seconds that left the window, keeping the totals equal to the buckets' sum.
        mutating func expire(now second: Int64, day today: Int64) {
            let oldest = second - 59
            if buckets.count > 0 {
                for (bucket, counts) in buckets where bucket < oldest {
                    requestsMinute -= counts.requests
                    tokensMinute -= counts.tokens
                    buckets[bucket] = nil
                }
            }
            if day != today {
                day = today
                requestsDay = 0
                tokensDay = 0
            }
        }

        mutating func record(second: Int64, tokens: Int) {
            let bucket = buckets[second, default: (0, 0)]
            buckets[second] = (bucket.requests + 1, bucket.tokens + tokens)
            requestsMinute += 1
            tokensMinute += tokens
            requestsDay += 1
            tokensDay += tokens
            totalRequests += 1
        }
    }

    public func reserve(_ pool: KeyPoolDescriptor, estimatedTokens: Int, excluding: Set<String>) async throws -> Reservation {
        let now = clock.nowMillis()
        let second = now / 1000
        let today = DayMath.day(pool.timeZone, atSeconds: second)
        return state.withLock { providers in
            // Taken out of the dictionary so mutating it does not copy every key's state.
            var provider = providers.removeValue(forKey: pool.provider) ?? ProviderState()
            defer { providers[pool.provider] = provider }
            provider.cooldowns = provider.cooldowns.filter { $0.value.until > now }

            var best: Int?
            var bestUsage = 0.0
            var usages: [Double?] = Array(repeating: nil, count: pool.keyIDs.count)
            var anyIncluded = false
            var anyRoom = false
            for (index, id) in pool.keyIDs.enumerated() where !excluding.contains(id) {
                anyIncluded = true
                var keyState = provider.keys.removeValue(forKey: id) ?? KeyState()
                keyState.expire(now: second, day: today)
                provider.keys[id] = keyState
                guard Self.hasRoom(keyState, pool.limits, estimatedTokens) else { continue }
                anyRoom = true
                guard provider.cooldowns[id] == nil else { continue }
                let usage = UsageMath.dailyUsage(requests: keyState.requestsDay, tokens: keyState.tokensDay, limits: pool.limits)
                usages[index] = usage
                if best == nil || usage < bestUsage { (best, bestUsage) = (index, usage) }
            }

            guard let best else {
                guard anyIncluded else { return .refused(retryAfterMillis: 0, reason: .exhausted) }
                let retryAt = pool.keyIDs.filter { !excluding.contains($0) }.map { id in
                    freeAt(provider, id, pool.limits, estimatedTokens, now: now, today: today, zone: pool.timeZone)
                }.min() ?? now
                return .refused(retryAfterMillis: max(0, retryAt - now), reason: anyRoom ? .coolingDown : .windowsFull)
            }

            var chosen = best
            if let current = provider.current, let index = pool.keyIDs.firstIndex(of: current),
                let usage = usages[index], usage <= bestUsage + pool.gapPercentage
            {
                chosen = index
            }
            let id = pool.keyIDs[chosen]
            provider.current = id
            provider.keys[id, default: KeyState()].record(second: second, tokens: estimatedTokens)
            return .granted(Lease(provider: pool.provider, keyID: id, second: second, day: today, reservedTokens: estimatedTokens))
        }
    }

    public func settle(_ lease: Lease, actualTokens: Int) async throws {
        adjust(lease, requests: 0, tokens: actualTokens - lease.reservedTokens, settledTokens: actualTokens)
    }

    public func release(_ lease: Lease) async throws {
        adjust(lease, requests: -1, tokens: -lease.reservedTokens, settledTokens: 0)
    }

    /// Corrects the lease's bucket and day, mirroring the Redis settle script.
    private func adjust(_ lease: Lease, requests: Int, tokens: Int, settledTokens: Int) {
        state.withLock { providers in
            guard var keyState = providers[lease.provider]?.keys[lease.keyID] else { return }
            if var bucket = keyState.buckets[lease.second] {
                bucket.requests += requests
                bucket.tokens += tokens
                keyState.buckets[lease.second] = bucket
                keyState.requestsMinute += requests
                keyState.tokensMinute += tokens
            }
            if keyState.day == lease.day {
                keyState.requestsDay += requests
                keyState.tokensDay += tokens
            }
            keyState.totalRequests += requests
            keyState.totalTokens += settledTokens
            providers[lease.provider]?.keys[lease.keyID] = keyState
        }
    }

    public func cooldown(provider: String, keyID: String, untilMillis: Int64, reason: String) async throws {
        state.withLock { providers in
            if let existing = providers[provider]?.cooldowns[keyID], existing.until >= untilMillis { return }
            providers[provider, default: ProviderState()].cooldowns[keyID] = (untilMillis, reason)
        }
    }

    public func snapshot(_ pools: [KeyPoolDescriptor]) async throws -> [ProviderUsage] {
        let now = clock.nowMillis()
        let second = now / 1000
        return state.withLock { providers in
            pools.map { pool in
                let today = DayMath.day(pool.timeZone, atSeconds: second)
                var provider = providers.removeValue(forKey: pool.provider) ?? ProviderState()
                let keys = pool.keyIDs.map { id in
                    var keyState = provider.keys.removeValue(forKey: id) ?? KeyState()
                    keyState.expire(now: second, day: today)
                    provider.keys[id] = keyState
                    let cooldown = provider.cooldowns[id].flatMap { $0.until > now ? $0 : nil }
                    return ProviderUsage.KeyUsage(
                        id: id, limits: pool.limits,
                        requestsMinute: keyState.requestsMinute, tokensMinute: keyState.tokensMinute,
                        requestsDay: keyState.requestsDay, tokensDay: keyState.tokensDay,
                        totalRequests: keyState.totalRequests, totalTokens: keyState.totalTokens,
                        cooldownUntilMillis: cooldown?.until, cooldownReason: cooldown?.reason)
                }
                providers[pool.provider] = provider
                return ProviderUsage(provider: pool.provider, currentKeyID: provider.current, keys: keys)
            }
        }
    }

    private static func hasRoom(_ key: KeyState, _ limits: KeyLimits, _ tokens: Int) -> Bool {
        if let limit = limits.requestsPerMinute, key.requestsMinute + 1 > limit { return false }
        if let limit = limits.tokensPerMinute, key.tokensMinute + tokens > limit { return false }
        if let limit = limits.requestsPerDay, key.requestsDay + 1 > limit { return false }
        if let limit = limits.tokensPerDay, key.tokensDay + tokens > limit { return false }
        return true
    }

    /// When every limit blocking the key has room again (and its cooldown is over).
    private func freeAt(
        _ provider: ProviderState, _ id: String, _ limits: KeyLimits, _ tokens: Int, now: Int64, today: Int64,
        zone: TimeZone
    ) -> Int64 {
        let keyState = provider.keys[id, default: KeyState()]
        var freeAt = now
        if let cooldown = provider.cooldowns[id] { freeAt = max(freeAt, cooldown.until) }
        if let limit = limits.requestsPerDay, keyState.requestsDay + 1 > limit {
            freeAt = max(freeAt, DayMath.nextDayStartMillis(zone, day: today))
        }
        if let limit = limits.tokensPerDay, keyState.tokensDay + tokens > limit {
            freeAt = max(freeAt, DayMath.nextDayStartMillis(zone, day: today))
        }
        let needRequests = limits.requestsPerMinute.map { keyState.requestsMinute + 1 > $0 } ?? false
        let needTokens = limits.tokensPerMinute.map { keyState.tokensMinute + tokens > $0 } ?? false
        if needRequests || needTokens {
            var freedRequests = 0
            var freedTokens = 0
            var at: Int64?
            for (second, counts) in keyState.buckets.sorted(by: { $0.key < $1.key }) {
                freedRequests += counts.requests
                freedTokens += counts.tokens
                let requestsOK = !needRequests || keyState.requestsMinute - freedRequests + 1 <= limits.requestsPerMinute!
                let tokensOK = !needTokens || keyState.tokensMinute - freedTokens + tokens <= limits.tokensPerMinute!
                if requestsOK && tokensOK {
                    at = (second + 60) * 1000
                    break
                }
            }
            freeAt = max(freeAt, at ?? ((now / 1000 + 60) * 1000))
        }
        return freeAt
    }
}
