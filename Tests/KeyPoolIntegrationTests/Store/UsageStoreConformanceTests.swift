import Foundation
import KeyPool
import Testing

/// One suite, both stores: what the gateway relies on from any `UsageStore`.
@Suite("UsageStore conformance (Redis and memory)", .timeLimit(.minutes(2)))
struct UsageStoreConformanceTests {
    @Test("exact requests/minute across 8 replicas: 3 keys x 15, 200 concurrent reserves", arguments: StoreKind.allCases)
    func exactRequestsPerMinute(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let pool = StoreHarness.pool(keys: 3, limits: KeyLimits(requestsPerMinute: 15))
        let outcomes = try await harness.burst(pool, count: 200)
        #expect(outcomes.leases.count == 45)
        #expect(outcomes.perKey.values.sorted() == [15, 15, 15])
        #expect(outcomes.retryAfters.count == 155)
        #expect(outcomes.retryAfters.allSatisfy { $0 > 0 && $0 <= 60_000 })
        let usage = try await harness.usage(pool)
        #expect(usage.keys.map(\.requestsMinute) == [15, 15, 15])
        #expect(usage.keys.map(\.requestsDay) == [15, 15, 15])
    }

    @Test("exact tokens/minute across replicas", arguments: StoreKind.allCases)
    func exactTokensPerMinute(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let pool = StoreHarness.pool(keys: 3, limits: KeyLimits(tokensPerMinute: 1_000))
        let outcomes = try await harness.burst(pool, count: 200, tokens: 100)
        #expect(outcomes.leases.count == 30)
        #expect(outcomes.perKey.values.sorted() == [10, 10, 10])
        #expect(outcomes.retryAfters.allSatisfy { $0 > 0 && $0 <= 60_000 })
        #expect(try await harness.usage(pool).keys.map(\.tokensMinute) == [1_000, 1_000, 1_000])
    }

    @Test("exact requests/day across replicas; refusals wait for the next day", arguments: StoreKind.allCases)
    func exactRequestsPerDay(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let pool = StoreHarness.pool(keys: 3, limits: KeyLimits(requestsPerDay: 7))
        let outcomes = try await harness.burst(pool, count: 100)
        #expect(outcomes.leases.count == 21)
        #expect(outcomes.perKey.values.sorted() == [7, 7, 7])
        // Noon UTC: the day frees in 12 h (minus the quarter second past noon).
        #expect(Set(outcomes.retryAfters) == Set<Int64>([12 * 3_600_000 - 250]))
    }

    @Test("the minute window rolls second by second (time moved, not slept)", arguments: StoreKind.allCases)
    func rollingMinute(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let pool = StoreHarness.pool(keys: 1, limits: KeyLimits(requestsPerMinute: 10))
        #expect(try await harness.burst(pool, count: 4).leases.count == 4)  // t = 0 s
        harness.clock.advance(by: .seconds(30))
        let second = try await harness.burst(pool, count: 8)  // t = 30 s: only 6 fit
        #expect(second.leases.count == 6)
        // The 4 from t = 0 leave the window at t = 60 s: 29.75 s from now.
        #expect(Set(second.retryAfters) == [29_750])
        harness.clock.advance(by: .milliseconds(29_749))  // t = 59.999 s
        #expect(try await harness.store.reserve(pool, estimatedTokens: 1).lease == nil)
        harness.clock.advance(by: .milliseconds(1))  // t = 60 s
        #expect(try await harness.burst(pool, count: 6).leases.count == 4)
        #expect(try await harness.usage(pool).keys[0].requestsMinute == 10)
        harness.clock.advance(by: .seconds(30))  // t = 90 s: the 6 from t = 30 s are gone
        #expect(try await harness.usage(pool).keys[0].requestsMinute == 4)
        harness.clock.advance(by: .seconds(600))  // long idle: everything is gone
        #expect(try await harness.usage(pool).keys[0].requestsMinute == 0)
        #expect(try await harness.usage(pool).keys[0].requestsDay == 14)
    }

    @Test("the day is a calendar day in the configured time zone", arguments: StoreKind.allCases)
    func calendarDayInTimeZone(kind: StoreKind) async throws {
        // 2026-11-22 23:59:00 in New York (UTC-5) is 2026-11-23 04:59:00 UTC.
        let harness = try StoreHarness(kind, startMillis: 1_795_409_940_000)
        let zone = TimeZone(identifier: "America/New_York")!
        let pool = StoreHarness.pool(keys: 1, limits: KeyLimits(requestsPerDay: 2), zone: zone)
        #expect(try await harness.burst(pool, count: 3).leases.count == 2)
        guard case .refused(let retry, let reason) = try await harness.store.reserve(pool, estimatedTokens: 1) else {
            Issue.record("third request of the day must be refused")
            return
        }
        #expect(retry == 60_000)
        #expect(reason == .windowsFull)
        harness.clock.advance(by: .seconds(60))  // local midnight: a new day
        #expect(try await harness.burst(pool, count: 3).leases.count == 2)
        #expect(try await harness.usage(pool).keys[0].requestsDay == 2)
        #expect(try await harness.usage(pool).keys[0].totalRequests == 4)
    }

    @Test("replicas whose daily_reset_timezone differs share one day: neither resets the other's count", arguments: StoreKind.allCases)
    func replicasInDifferentTimeZonesShareTheDay(kind: StoreKind) async throws {
        // Noon UTC on 2026-11-22 is 02:00 on 2026-11-23 in Kiritimati (UTC+14): during a rolling
        // config change one replica counts the 22nd, the other the 23rd.
        let harness = try StoreHarness(kind, replicas: 2)
        let limits = KeyLimits(requestsPerDay: 3)
        let east = StoreHarness.pool(keys: 1, limits: limits, zone: TimeZone(identifier: "Pacific/Kiritimati")!)
        let utc = StoreHarness.pool(keys: 1, limits: limits)
        func alternate(_ count: Int) async throws -> [Reservation] {
            var outcomes: [Reservation] = []
            for index in 0..<count {
                let pool = index % 2 == 0 ? east : utc
                outcomes.append(try await harness.stores[index % 2].reserve(pool, estimatedTokens: 10))
            }
            return outcomes
        }
        // Before: every change of zone reset the day, and all 10 were served.
        let first = try await alternate(10)
        #expect(first.leases.count == 3)
        // Refused for the day, each replica says when its own date passes the key's day: in
        // Kiritimati at its next midnight (22 h), in UTC at the midnight after the 23rd (36 h,
        // not the 12 h to its own next date, when the key still counts the 23rd). The harness
        // clock stands at 12:00:00.250.
        #expect(first[3] == .refused(retryAfterMillis: 36 * 3_600_000 - 250, reason: .windowsFull))
        #expect(first[4] == .refused(retryAfterMillis: 22 * 3_600_000 - 250, reason: .windowsFull))
        // The lease granted through the UTC replica carries the day the key counts, so its settle
        // corrects that day's tokens.
        let eastDay = (harness.clock.nowMillis() / 1000 + 14 * 3_600) / 86_400
        #expect(first.leases.map(\.day) == [eastDay, eastDay, eastDay])
        try await harness.stores[1].settle(first.leases[1], actualTokens: 1)
        let usage = try await harness.stores[1].snapshot([utc])[0]
        #expect(usage.keys[0].requestsDay == 3)
        #expect(usage.keys[0].tokensDay == 21)
        // UTC midnight: the UTC replica's new day is the one the key already counts.
        harness.clock.advance(by: .seconds(12 * 3_600))
        #expect(try await harness.stores[1].reserve(utc, estimatedTokens: 10).lease == nil)
        // Kiritimati's next midnight (10:00 UTC): a new day for both.
        harness.clock.advance(by: .seconds(10 * 3_600))
        #expect(try await alternate(6).leases.count == 3)
    }

    @Test("a token window full of reservations in flight frees as they settle: retry in 1 s, not when they leave the window", arguments: StoreKind.allCases)
    func tokenWindowOfUnsettledReservations(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        for limits in [KeyLimits(tokensPerMinute: 1_000), KeyLimits(tokensPerDay: 1_000)] {
            let provider = limits.tokensPerMinute != nil ? "minute" : "day"
            let pool = StoreHarness.pool(provider, keys: 1, limits: limits)
            let inFlight = try #require(try await harness.stores[0].reserve(pool, estimatedTokens: 600).lease)
            // The window holds 600 estimated tokens, none settled: they free as the lease settles.
            #expect(try await harness.stores[1].reserve(pool, estimatedTokens: 600) == .refused(retryAfterMillis: 1_000, reason: .windowsFull))
            try await harness.stores[2].settle(inFlight, actualTokens: 50)
            let second = try #require(try await harness.stores[1].reserve(pool, estimatedTokens: 600).lease)
            try await harness.stores[3].settle(second, actualTokens: 600)
            // 650 settled tokens fill it now: only the window's own end frees them.
            let settledFull = limits.tokensPerMinute != nil ? 60_000 - 250 : 12 * 3_600_000 - 250
            #expect(try await harness.stores[0].reserve(pool, estimatedTokens: 600) == .refused(retryAfterMillis: Int64(settledFull), reason: .windowsFull))
            // A mix, 650 settled and 300 in flight: 100 more fit once those 300 settle.
            let third = try #require(try await harness.stores[0].reserve(pool, estimatedTokens: 300).lease)
            #expect(try await harness.stores[1].reserve(pool, estimatedTokens: 100) == .refused(retryAfterMillis: 1_000, reason: .windowsFull))
            try await harness.stores[2].release(third)
            #expect(try await harness.stores[1].reserve(pool, estimatedTokens: 100).lease != nil)
            let usage = try await harness.usage(pool).keys[0]
            #expect(usage.tokensMinute == 750)
            #expect(usage.tokensDay == 750)
        }
    }

    @Test("usage gap 5: the current key is kept until it is more than 5 points above the least used", arguments: StoreKind.allCases)
    func usageGapFive(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let pool = StoreHarness.pool(keys: 2, limits: KeyLimits(requestsPerDay: 100), gap: 5)
        let (a, b) = (pool.keyIDs[0], pool.keyIDs[1])
        var sequence: [String] = []
        for index in 0..<30 {
            // Alternate replicas: they share the current key, so they make the same choices.
            let lease = try await harness.stores[index % 2].reserve(pool, estimatedTokens: 1).lease
            sequence.append(try #require(lease).keyID)
        }
        // A runs to 6 % (6 > 0 + 5 only after the 6th), then B to 12 % (12 > 6 + 5), then A to 18 %.
        #expect(sequence == Array(repeating: a, count: 6) + Array(repeating: b, count: 12) + Array(repeating: a, count: 12))
        let usage = try await harness.usage(pool)
        #expect(usage.currentKeyID == a)
        #expect(usage.keys.map(\.dailyUsagePercentage) == [18, 12])
    }

    @Test("usage gap 0 balances evenly", arguments: StoreKind.allCases)
    func usageGapZero(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let pool = StoreHarness.pool(keys: 3, limits: KeyLimits(requestsPerDay: 1_000), gap: 0)
        var counts: [String: Int] = [:]
        for index in 0..<60 {
            let lease = try #require(try await harness.stores[index % 3].reserve(pool, estimatedTokens: 1).lease)
            counts[lease.keyID, default: 0] += 1
            let values = pool.keyIDs.map { counts[$0, default: 0] }
            #expect(values.max()! - values.min()! <= 1)
        }
        #expect(pool.keyIDs.map { counts[$0] } == [20, 20, 20])
    }

    @Test("settle corrects tokens to actual usage; release refunds the request", arguments: StoreKind.allCases)
    func settleAndRelease(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let pool = StoreHarness.pool(keys: 1, limits: KeyLimits(requestsPerMinute: 10, tokensPerMinute: 5_000))
        let lease = try #require(try await harness.store.reserve(pool, estimatedTokens: 1_000).lease)
        #expect(try await harness.usage(pool).keys[0].tokensMinute == 1_000)
        try await harness.stores[1].settle(lease, actualTokens: 120)
        var key = try await harness.usage(pool).keys[0]
        #expect([key.requestsMinute, key.tokensMinute, key.requestsDay, key.tokensDay] as [Int] == [1, 120, 1, 120])
        #expect([key.totalRequests, key.totalTokens] as [Int] == [1, 120])

        let unused = try #require(try await harness.store.reserve(pool, estimatedTokens: 700).lease)
        try await harness.stores[2].release(unused)
        key = try await harness.usage(pool).keys[0]
        #expect([key.requestsMinute, key.tokensMinute, key.requestsDay, key.tokensDay] as [Int] == [1, 120, 1, 120])
        #expect([key.totalRequests, key.totalTokens] as [Int] == [1, 120])

        // A settle after the bucket left the window changes nothing in the window.
        let late = try #require(try await harness.store.reserve(pool, estimatedTokens: 300).lease)
        harness.clock.advance(by: .seconds(61))
        try await harness.store.settle(late, actualTokens: 50)
        key = try await harness.usage(pool).keys[0]
        #expect([key.requestsMinute, key.tokensMinute, key.requestsDay, key.tokensDay] as [Int] == [0, 0, 2, 170])
    }

    @Test("a failure refunds the lease and cools its key down for every replica, then expires", arguments: StoreKind.allCases)
    func sharedCooldown(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let pool = StoreHarness.pool(keys: 2, limits: KeyLimits(requestsPerMinute: 100), gap: 0)
        let (a, b) = (pool.keyIDs[0], pool.keyIDs[1])
        let now = harness.clock.nowMillis()
        // Two requests in flight on key A when the upstream starts refusing it.
        let first = try #require(try await harness.stores[0].reserve(pool, estimatedTokens: 40, excluding: [b]).lease)
        let second = try #require(try await harness.stores[1].reserve(pool, estimatedTokens: 60, excluding: [b]).lease)
        #expect([first.keyID, second.keyID] == [a, a])
        let limited = KeyFailure(cooldownMillis: 30_000, reason: "rate_limited")
        #expect(try await harness.stores[0].fail(first, pool: pool, failure: limited) == false)
        // A shorter penalty never cuts a longer cooldown.
        let penalty = KeyFailure(cooldownMillis: 2_000, reason: "server_error")
        #expect(try await harness.stores[3].fail(second, pool: pool, failure: penalty) == false)
        var usage = try await harness.usage(pool)
        // Both refunded: neither the requests nor their tokens count.
        #expect([usage.keys[0].requestsMinute, usage.keys[0].tokensMinute, usage.keys[0].requestsDay] as [Int] == [0, 0, 0])
        #expect([usage.keys[0].tokensDay, usage.keys[0].totalRequests] as [Int] == [0, 0])
        #expect(usage.keys[0].cooldownUntilMillis == now + 30_000)
        #expect(usage.keys[0].cooldownReason == "rate_limited")
        #expect(usage.keys[1].cooldownUntilMillis == nil)

        var leases: [Lease] = []
        for index in 1...5 {
            let lease = try #require(try await harness.stores[index].reserve(pool, estimatedTokens: 1).lease)
            #expect(lease.keyID == b)
            leases.append(lease)
        }
        let error = KeyFailure(cooldownMillis: 10_000, reason: "server_error")
        #expect(try await harness.stores[1].fail(leases[4], pool: pool, failure: error) == false)
        guard case .refused(let retry, let reason) = try await harness.stores[2].reserve(pool, estimatedTokens: 1) else {
            Issue.record("every key is cooling down")
            return
        }
        #expect(retry == 10_000)
        #expect(reason == .coolingDown)
        usage = try await harness.usage(pool)
        #expect(usage.keys[1].requestsDay == 4)
        #expect(usage.keys[1].cooldownReason == "server_error")

        harness.clock.advance(by: .seconds(30))
        // A is back and is the least used, so gap 0 picks it.
        #expect(try await harness.stores[4].reserve(pool, estimatedTokens: 1).lease?.keyID == a)
        #expect(try await harness.usage(pool).keys[0].cooldownUntilMillis == nil)
    }

    @Test("keys all cooling after failures refuse as keys_failing; one rate limited or one key at its limit, as before", arguments: StoreKind.allCases)
    func failingKeysRefusal(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let pool = StoreHarness.pool(keys: 3, limits: KeyLimits(requestsPerMinute: 2), gap: 0)
        let (a, b, c) = (pool.keyIDs[0], pool.keyIDs[1], pool.keyIDs[2])
        func lease(_ id: String, store: Int = 0) async throws -> Lease {
            let others = Set(pool.keyIDs).subtracting([id])
            return try #require(try await harness.stores[store].reserve(pool, estimatedTokens: 1, excluding: others).lease)
        }
        // No breaker counted: these cooldowns alone decide.
        _ = try await harness.stores[0].fail(try await lease(a), pool: pool, failure: KeyFailure(cooldownMillis: 3_600_000, reason: "auth_rejected"))
        _ = try await harness.stores[1].fail(try await lease(b), pool: pool, failure: KeyFailure(cooldownMillis: 20_000, reason: "server_error"))
        // C is at its limit for the minute, not failing: a limit stands in the way.
        let heldOnC = [try await lease(c), try await lease(c, store: 2)]
        #expect(try await harness.stores[3].reserve(pool, estimatedTokens: 1) == .refused(retryAfterMillis: 20_000, reason: .coolingDown))
        // C fails too (the upstream timed out): every key is failing, the earliest frees in 5 s.
        _ = try await harness.stores[2].fail(heldOnC[0], pool: pool, failure: KeyFailure(cooldownMillis: 5_000, reason: "timeout"))
        for store in 0..<3 {
            #expect(try await harness.stores[store].reserve(pool, estimatedTokens: 1) == .refused(retryAfterMillis: 5_000, reason: .keysFailing))
        }
        // Keys excluded by the caller do not count: B and C failing is still every key left.
        #expect(try await harness.store.reserve(pool, estimatedTokens: 1, excluding: [a]) == .refused(retryAfterMillis: 5_000, reason: .keysFailing))
        // A rate limit on one of them makes it a limit again (429 for the client).
        _ = try await harness.stores[4].fail(heldOnC[1], pool: pool, failure: KeyFailure(cooldownMillis: 30_000, reason: "rate_limited"))
        #expect(try await harness.store.reserve(pool, estimatedTokens: 1) == .refused(retryAfterMillis: 20_000, reason: .coolingDown))
        // Once B's cooldown ends it serves again.
        harness.clock.advance(by: .seconds(20))
        #expect(try await harness.store.reserve(pool, estimatedTokens: 1).lease?.keyID == b)
    }

    @Test("the circuit breaker opens when every key is failing, for every replica; half-open; a success closes it", arguments: StoreKind.allCases)
    func circuitBreaker(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let pool = StoreHarness.pool(keys: 2, limits: KeyLimits(requestsPerMinute: 100), gap: 0)
        let breaker = CircuitBreakerPolicy(windowMillis: 60_000, openMillis: 30_000)
        let failing = KeyFailure(cooldownMillis: 1_000, reason: "server_error", breaker: breaker)
        let start = harness.clock.nowMillis()

        let first = try #require(try await harness.stores[0].reserve(pool, estimatedTokens: 1).lease)
        let second = try #require(try await harness.stores[1].reserve(pool, estimatedTokens: 1).lease)
        #expect(first.keyID != second.keyID)
        #expect(try await harness.stores[0].fail(first, pool: pool, failure: failing) == false)
        #expect(try await harness.stores[1].fail(second, pool: pool, failure: failing) == true)
        for store in harness.stores {
            #expect(try await store.reserve(pool, estimatedTokens: 1) == .refused(retryAfterMillis: 30_000, reason: .circuitOpen))
        }
        #expect(try await harness.usage(pool).circuitOpenUntilMillis == start + 30_000)

        // Half-open: traffic resumes, and the next counted failure reopens it at once.
        harness.clock.advance(by: .seconds(30))
        #expect(try await harness.usage(pool).circuitOpenUntilMillis == nil)
        let probe = try #require(try await harness.stores[2].reserve(pool, estimatedTokens: 1).lease)
        #expect(try await harness.stores[2].fail(probe, pool: pool, failure: failing) == true)
        #expect(try await harness.store.reserve(pool, estimatedTokens: 1) == .refused(retryAfterMillis: 30_000, reason: .circuitOpen))

        // A success on one key clears its mark: the other failing no longer opens the breaker.
        harness.clock.advance(by: .seconds(30))
        let good = try #require(try await harness.store.reserve(pool, estimatedTokens: 1).lease)
        try await harness.stores[1].settle(good, actualTokens: 5)
        let bad = try #require(try await harness.store.reserve(pool, estimatedTokens: 1, excluding: [good.keyID]).lease)
        #expect(try await harness.stores[3].fail(bad, pool: pool, failure: failing) == false)
        #expect(try await harness.usage(pool).circuitOpenUntilMillis == nil)

        // Marks older than the window do not count.
        harness.clock.advance(by: .seconds(120))
        let old = try #require(try await harness.store.reserve(pool, estimatedTokens: 1, excluding: [bad.keyID]).lease)
        #expect(old.keyID == good.keyID)
        #expect(try await harness.store.fail(old, pool: pool, failure: failing) == false)
    }

    @Test("a key cooling down for another reason counts toward the breaker; a 429 leaves no mark", arguments: StoreKind.allCases)
    func breakerCountsCoolingKeys(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let pool = StoreHarness.pool(keys: 2, limits: KeyLimits(requestsPerMinute: 100), gap: 0)
        let breaker = CircuitBreakerPolicy(windowMillis: 60_000, openMillis: 10_000)
        let first = try #require(try await harness.store.reserve(pool, estimatedTokens: 1).lease)
        #expect(try await harness.store.fail(first, pool: pool, failure: KeyFailure(cooldownMillis: 5_000, reason: "rate_limited")) == false)
        let second = try #require(try await harness.stores[1].reserve(pool, estimatedTokens: 1).lease)
        #expect(second.keyID != first.keyID)
        let failing = KeyFailure(cooldownMillis: 1_000, reason: "server_error", breaker: breaker)
        #expect(try await harness.stores[1].fail(second, pool: pool, failure: failing) == true)
        #expect(try await harness.store.reserve(pool, estimatedTokens: 1) == .refused(retryAfterMillis: 10_000, reason: .circuitOpen))

        // After both cooldowns and the breaker: the rate-limited key left no failure mark, so
        // the other key failing again alone does not reopen the breaker.
        harness.clock.advance(by: .seconds(10))
        let again = try #require(try await harness.store.reserve(pool, estimatedTokens: 1, excluding: [first.keyID]).lease)
        #expect(try await harness.store.fail(again, pool: pool, failure: failing) == false)
    }

    @Test("excluded keys are skipped; excluding all is 'exhausted'", arguments: StoreKind.allCases)
    func excluding(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let pool = StoreHarness.pool(keys: 2, limits: KeyLimits(requestsPerMinute: 10))
        let (a, b) = (pool.keyIDs[0], pool.keyIDs[1])
        #expect(try await harness.store.reserve(pool, estimatedTokens: 1, excluding: [a]).lease?.keyID == b)
        #expect(try await harness.store.reserve(pool, estimatedTokens: 1, excluding: [a, b]) == .refused(retryAfterMillis: 0, reason: .exhausted))
        #expect(try await harness.usage(pool).keys.map(\.requestsMinute) == [0, 1])
    }

    @Test("token counts are bounded: a huge estimate or usage counts as the cap, a negative one as 0", arguments: StoreKind.allCases)
    func tokenCountsBounded(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let cap = TokenCount.maxPerRequest
        let pool = StoreHarness.pool(keys: 1, limits: KeyLimits(requestsPerMinute: 100))
        // Int.max would overflow the Redis bucket (tokens * 2^20) without the bound.
        let huge = try #require(try await harness.store.reserve(pool, estimatedTokens: Int.max).lease)
        #expect(huge.reservedTokens == cap)
        let negative = try #require(try await harness.store.reserve(pool, estimatedTokens: -5).lease)
        #expect(negative.reservedTokens == 0)
        var key = try await harness.usage(pool).keys[0]
        #expect([key.requestsMinute, key.tokensMinute] as [Int] == [2, cap])

        // Settled in one batch with an ordinary one: every settle in it lands.
        let plain = try #require(try await harness.store.reserve(pool, estimatedTokens: 10).lease)
        async let a: Void = harness.stores[1].settle(huge, actualTokens: Int.max)
        async let b: Void = harness.stores[1].settle(negative, actualTokens: -7)
        async let c: Void = harness.stores[1].settle(plain, actualTokens: 3)
        _ = try await (a, b, c)
        key = try await harness.usage(pool).keys[0]
        #expect([key.requestsMinute, key.tokensMinute, key.requestsDay, key.tokensDay] as [Int] == [3, cap + 3, 3, cap + 3])
        #expect([key.totalRequests, key.totalTokens] as [Int] == [3, cap + 3])

        // A token limit below the cap refuses the oversized estimate, with a retry time.
        let limited = StoreHarness.pool("limited", keys: 1, limits: KeyLimits(tokensPerMinute: 1_000))
        guard case .refused(let retry, let reason) = try await harness.store.reserve(limited, estimatedTokens: Int.max) else {
            Issue.record("an estimate above the token limit must be refused")
            return
        }
        #expect(reason == .windowsFull)
        #expect(retry > 0 && retry <= 60_000)
    }

    @Test("providers are independent even when they share a key", arguments: StoreKind.allCases)
    func providersIndependent(kind: StoreKind) async throws {
        let harness = try StoreHarness(kind)
        let limits = KeyLimits(requestsPerMinute: 2)
        let one = KeyPoolDescriptor(provider: "one", keyIDs: [KeyID.of("shared")], limits: limits, gapPercentage: 5)
        let two = KeyPoolDescriptor(provider: "two", keyIDs: [KeyID.of("shared")], limits: limits, gapPercentage: 5)
        #expect(try await harness.burst(one, count: 5).leases.count == 2)
        #expect(try await harness.burst(two, count: 5).leases.count == 2)
    }
}
