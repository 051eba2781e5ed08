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
        /// When the circuit breaker closes (ms); in the past = closed.
        var breakerUntil: Int64 = 0
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
        /// The last breaker-counted failure (ms); 0 once the key answers again.
        var lastFailure: Int64 = 0
        /// Tokens reserved by leases not yet settled or released: a hint for refusals, as in the
        /// Redis scripts (`UsageScripts`).
        var pendingTokens = 0

        /// Drops seconds that left the window, keeping the totals equal to the buckets' sum.
        mutating func expire(now second: Int64, day today: Int64) {
            let oldest = second - 59
            if buckets.count > 0 {
                for (bucket, counts) in buckets where bucket < oldest {
                    requestsMinute -= counts.requests
                    tokensMinute -= counts.tokens
                    buckets[bucket] = nil
                }
                // No request left in the window: no lease younger than a minute is in flight.
                if requestsMinute == 0 { pendingTokens = 0 }
            }
            // Days never go back (see the Redis scripts): a reload to a zone further west keeps
            // counting the day already begun.
            if day < today {
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
            pendingTokens += tokens
        }

        /// Corrects the lease's bucket and day, mirroring the Redis settle script.
        mutating func correct(_ lease: Lease, requests: Int, tokens: Int, settledTokens: Int) {
            if var bucket = buckets[lease.second] {
                bucket.requests += requests
                bucket.tokens += tokens
                buckets[lease.second] = bucket
                requestsMinute += requests
                tokensMinute += tokens
            }
            if day == lease.day {
                requestsDay += requests
                tokensDay += tokens
            }
            totalRequests += requests
            totalTokens += settledTokens
            pendingTokens = max(0, pendingTokens - lease.reservedTokens)
        }
    }

    public func reserve(_ pool: KeyPoolDescriptor, estimatedTokens: Int, excluding: Set<String>) async throws -> Reservation {
        let estimatedTokens = TokenCount.clamped(estimatedTokens)
        let now = clock.nowMillis()
        let second = now / 1000
        let today = DayMath.day(pool.timeZone, atSeconds: second)
        return state.withLock { providers in
            // Taken out of the dictionary so mutating it does not copy every key's state.
            var provider = providers.removeValue(forKey: pool.provider) ?? ProviderState()
            defer { providers[pool.provider] = provider }
            provider.cooldowns = provider.cooldowns.filter { $0.value.until > now }
            if provider.breakerUntil > now {
                return .refused(retryAfterMillis: provider.breakerUntil - now, reason: .circuitOpen)
            }

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
                let included = pool.keyIDs.filter { !excluding.contains($0) }
                let retryAt = included.map { id in
                    freeAt(provider, id, pool.limits, estimatedTokens, now: now, today: today, zone: pool.timeZone)
                }.min() ?? now
                // Mirrors the Redis script: every key held back after failing, none rate limited.
                let failing = included.allSatisfy { id in
                    provider.cooldowns[id].map { $0.reason != KeyFailure.rateLimitedReason } ?? false
                }
                let reason: RefusalReason = failing ? .keysFailing : anyRoom ? .coolingDown : .windowsFull
                return .refused(retryAfterMillis: max(0, retryAt - now), reason: reason)
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
            let day = provider.keys[id]?.day ?? today
            return .granted(Lease(provider: pool.provider, keyID: id, second: second, day: day, reservedTokens: estimatedTokens))
        }
    }

    public func settle(_ lease: Lease, actualTokens: Int) async throws {
        let actualTokens = TokenCount.clamped(actualTokens)
        state.withLock { providers in
            guard var keyState = providers[lease.provider]?.keys[lease.keyID] else { return }
            keyState.correct(lease, requests: 0, tokens: actualTokens - lease.reservedTokens, settledTokens: actualTokens)
            // An answer clears the key's failure mark, as the Redis settle script does.
            keyState.lastFailure = 0
            providers[lease.provider]?.keys[lease.keyID] = keyState
        }
    }

    public func release(_ lease: Lease) async throws {
        state.withLock { providers in
            guard var keyState = providers[lease.provider]?.keys[lease.keyID] else { return }
            keyState.correct(lease, requests: -1, tokens: -lease.reservedTokens, settledTokens: 0)
            providers[lease.provider]?.keys[lease.keyID] = keyState
        }
    }

    public func fail(_ lease: Lease, pool: KeyPoolDescriptor, failure: KeyFailure) async throws -> Bool {
        let now = clock.nowMillis()
        return state.withLock { providers in
            var provider = providers.removeValue(forKey: lease.provider) ?? ProviderState()
            defer { providers[lease.provider] = provider }
            provider.keys[lease.keyID]?.correct(lease, requests: -1, tokens: -lease.reservedTokens, settledTokens: 0)
            Self.extendCooldown(&provider, lease.keyID, until: now + failure.cooldownMillis, reason: failure.reason)
            guard let breaker = failure.breaker else { return false }
            provider.keys[lease.keyID, default: KeyState()].lastFailure = now
            let allFailing = pool.keyIDs.allSatisfy { id in
                let failed = provider.keys[id]?.lastFailure ?? 0
                return (failed > 0 && failed >= now - breaker.windowMillis) || (provider.cooldowns[id]?.until ?? 0) > now
            }
            guard allFailing else { return false }
            let wasOpen = provider.breakerUntil > now
            provider.breakerUntil = max(provider.breakerUntil, now + breaker.openMillis)
            return !wasOpen
        }
    }

    /// Records a cooldown another store decided (`FallbackUsageStore` mirrors the shared store's
    /// cooldowns here), from this store's clock, so an outage starts from what is known.
    public func noteCooldown(provider: String, keyID: String, cooldownMillis: Int64, reason: String) {
        let now = clock.nowMillis()
        state.withLock { providers in
            Self.extendCooldown(&providers[provider, default: ProviderState()], keyID, until: now + cooldownMillis, reason: reason)
        }
    }

    /// A cooldown is extended, never shortened, so a short 5xx penalty cannot cut a 429's wait.
    private static func extendCooldown(_ provider: inout ProviderState, _ keyID: String, until: Int64, reason: String) {
        if let existing = provider.cooldowns[keyID], existing.until >= until { return }
        provider.cooldowns[keyID] = (until, reason)
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
                return ProviderUsage(
                    provider: pool.provider, currentKeyID: provider.current, keys: keys,
                    circuitOpenUntilMillis: provider.breakerUntil > now ? provider.breakerUntil : nil)
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

    /// How soon a token window full of unsettled reservations is expected to have room.
    static let settleHintMillis: Int64 = 1000

    /// When every limit blocking the key has room again (and its cooldown is over).
    private func freeAt(
        _ provider: ProviderState, _ id: String, _ limits: KeyLimits, _ tokens: Int, now: Int64, today: Int64,
        zone: TimeZone
    ) -> Int64 {
        let keyState = provider.keys[id, default: KeyState()]
        // Tokens of reservations in flight free as they settle (see the Redis reserve script).
        let pending = keyState.pendingTokens
        var freeAt = now
        if let cooldown = provider.cooldowns[id] { freeAt = max(freeAt, cooldown.until) }
        // The day counts end when this zone's date passes the day the key counts, which a
        // replica further east may have moved past ours (see the Redis reserve script).
        let nextDay = DayMath.nextDayStartMillis(zone, day: max(today, keyState.day))
        if let limit = limits.requestsPerDay, keyState.requestsDay + 1 > limit {
            freeAt = max(freeAt, nextDay)
        }
        if let limit = limits.tokensPerDay, keyState.tokensDay + tokens > limit {
            let settled = keyState.tokensDay - min(pending, keyState.tokensDay)
            freeAt = max(freeAt, settled + tokens > limit ? nextDay : now + Self.settleHintMillis)
        }
        let needRequests = limits.requestsPerMinute.map { keyState.requestsMinute + 1 > $0 } ?? false
        let needTokens = limits.tokensPerMinute.map {
            keyState.tokensMinute - min(pending, keyState.tokensMinute) + tokens > $0
        } ?? false
        if !needRequests, !needTokens, let limit = limits.tokensPerMinute, keyState.tokensMinute + tokens > limit {
            freeAt = max(freeAt, now + Self.settleHintMillis)
        }
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
