import Foundation
import Synchronization
import KeyPool
import Testing

@Suite("RedisUsageStore: what only a shared store can do", .timeLimit(.minutes(2)))
struct RedisUsageStoreTests {
    @Test("counters survive a gateway restart and a config reload: same key, same id, same counts")
    func countersSurviveRestartAndReload() async throws {
        let harness = try StoreHarness(.redis, replicas: 1)
        let server = try #require(harness.server)
        let limits = KeyLimits(requestsPerMinute: 50, requestsPerDay: 1_000)
        let before = StoreHarness.pool(keys: 2, limits: limits, gap: 0)
        _ = try await harness.burst(before, count: 7)
        let snapshotBefore = try await harness.usage(before)

        // A new process: new client, new store, same Redis.
        let restarted = RedisUsageStore(redis: try RedisClient(url: server.url), testClock: harness.clock)
        #expect(try await restarted.snapshot([before])[0] == snapshotBefore)

        // A reload that adds a key and changes a limit: the old keys keep their counts.
        let reloaded = KeyPoolDescriptor(
            provider: "p", keyIDs: before.keyIDs + [KeyID.of("a-new-key")],
            limits: KeyLimits(requestsPerMinute: 60, requestsPerDay: 1_000), gapPercentage: 0)
        let after = try await restarted.snapshot([reloaded])[0]
        #expect(after.keys.prefix(2).map(\.requestsMinute) == snapshotBefore.keys.map(\.requestsMinute))
        #expect(after.keys.prefix(2).map(\.requestsDay) == snapshotBefore.keys.map(\.requestsDay))
        #expect(after.keys.prefix(2).map(\.totalRequests) == snapshotBefore.keys.map(\.totalRequests))
        #expect(after.keys[2].totalRequests == 0)
        // The new key is the least used, so with gap 0 it gets the next request at once.
        #expect(try await restarted.reserve(reloaded, estimatedTokens: 1).lease?.keyID == KeyID.of("a-new-key"))
    }

    @Test("a key state written before the failure mark (nine doubles) or the pending tokens (ten) existed still works everywhere", arguments: [9, 10])
    func olderStatesAreRead(doubles: Int) async throws {
        let harness = try StoreHarness(.redis, replicas: 1)
        let server = try #require(harness.server)
        let pool = StoreHarness.pool(keys: 2, limits: KeyLimits(requestsPerMinute: 50, requestsPerDay: 100), gap: 0)
        let today = Double(harness.clock.nowMillis() / 1000 / 86_400)
        // b, R, T, D, dr, dt, cu, q, tok: 3 requests and 30 tokens today, no window, no cooldown.
        var old = RedisCommand("HSET", "gw:{p}:w", pool.keyIDs[0])
        var packed: [UInt8] = []
        // The tenth, when present: no breaker-counted failure.
        for value in ([0, 0, 0, today, 3, 30, 0, 3, 30, 0] as [Double]).prefix(doubles) {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { packed.append(contentsOf: $0) }
        }
        #expect(packed.count == 8 * doubles)
        old.append(packed)
        _ = try await RedisClient(url: server.url).send(old).checked()

        #expect(try await harness.usage(pool).keys[0].requestsDay == 3)
        // B takes requests until it has more than A's 3 today (gap 0): A's old state is compared.
        var leases: [Lease] = []
        for _ in 0..<5 { leases.append(try #require(try await harness.store.reserve(pool, estimatedTokens: 10).lease)) }
        #expect(leases.map(\.keyID) == Array(repeating: pool.keyIDs[1], count: 4) + [pool.keyIDs[0]])
        let breaker = CircuitBreakerPolicy(windowMillis: 60_000, openMillis: 5_000)
        _ = try await harness.store.fail(leases[4], pool: pool, failure: KeyFailure(cooldownMillis: 1_000, reason: "server_error", breaker: breaker))
        let usage = try await harness.usage(pool)
        #expect(usage.keys.map(\.requestsDay) == [3, 4])
        #expect(usage.keys.map(\.totalRequests) == [3, 4])
        #expect(usage.keys[0].tokensDay == 30)
        #expect(usage.keys[0].cooldownReason == "server_error")
    }

    @Test("a reserve that reaches Redis after the client gave up on it (Redis busy with a slow command) reserves nothing")
    func reserveAfterItsDeadlineReservesNothing() async throws {
        let server = try RedisServer(arguments: ["--enable-debug-command", "yes"])
        var configuration = try RedisConfiguration(url: server.url)
        // Generous against a loaded machine: the warm-up calls must not time out, and Redis's
        // sleep below outlasts the timeout by far, so the deadline's margin covers any error in
        // the offset.
        configuration.commandTimeout = .seconds(1)
        configuration.poolSize = 1
        // No test clock: the deadline is on Redis's own.
        let store = RedisUsageStore(redis: RedisClient(configuration: configuration))
        let pool = StoreHarness.pool(keys: 1, limits: KeyLimits(requestsPerMinute: 100))
        // The deadline's offset to Redis's clock is the least any reply showed: on a busy machine
        // the first call (which loads the script) can be slow enough to put it past the sleep.
        for _ in 0..<5 { #expect(try await store.reserve(pool, estimatedTokens: 10).lease != nil) }

        // Another client's command holds Redis for 3 s; the reserve waits behind it.
        var adminConfiguration = try RedisConfiguration(url: server.url)
        adminConfiguration.commandTimeout = .seconds(10)
        let admin = RedisClient(configuration: adminConfiguration)
        #expect(try await admin.send(["PING"]) == .status("PONG"))
        let sent = Atomic<Bool>(false)
        let slow = Task {
            sent.store(true, ordering: .relaxed)
            return try await admin.send(["DEBUG", "SLEEP", "3"])
        }
        try await eventually(within: 5) { sent.load(ordering: .relaxed) }
        try await Task.sleep(for: .milliseconds(200))
        await #expect { try await store.reserve(pool, estimatedTokens: 10) } throws: { error in
            (error as? RedisError)?.code == .timeout
        }
        #expect(try await slow.value == .status("OK"))
        var usage: ProviderUsage?
        try await eventually(within: 5) {
            usage = try? await store.snapshot([pool])[0]
            return usage != nil
        }
        // Before: 2, the second counted although its caller had been told it failed (and, in
        // the gateway, had served the request from the fallback store or refused it).
        #expect(usage?.keys[0].requestsMinute == 5)
        #expect(usage?.keys[0].totalRequests == 5)
        #expect(try await store.reserve(pool, estimatedTokens: 10).lease != nil)
    }

    @Test("Redis holds key ids, never keys; every window hash expires; one hash tag per provider")
    func keyspaceHygiene() async throws {
        let harness = try StoreHarness(.redis, replicas: 1)
        let server = try #require(harness.server)
        let pool = StoreHarness.pool("openrouter", keys: 3, limits: KeyLimits(requestsPerMinute: 50, tokensPerDay: 100_000), gap: 0)
        for lease in try await harness.burst(pool, count: 9).leases {
            try await harness.store.settle(lease, actualTokens: 33)
        }
        let failed = try #require(try await harness.store.reserve(pool, estimatedTokens: 1).lease)
        _ = try await harness.store.fail(failed, pool: pool, failure: KeyFailure(cooldownMillis: 5_000, reason: "rate_limited"))

        let redis = try RedisClient(url: server.url)
        let names = try #require(try await redis.send(["KEYS", "*"]).array).compactMap(\.string).sorted()
        let windows = pool.keyIDs.map { "gw:{openrouter}:k:\($0)" }.sorted()
        #expect(names == (["gw:{openrouter}:w"] + windows).sorted())
        // Bucket hashes live two minutes past their last use, the provider's state 30 days.
        for name in windows {
            let ttl = try #require(try await redis.send(["TTL", name]).int)
            #expect(ttl > 0 && ttl <= 120)
        }
        let stateTTL = try #require(try await redis.send(["TTL", "gw:{openrouter}:w"]).int)
        #expect(stateTTL > 0 && stateTTL <= 2_592_000)
        // Nothing in the keyspace carries a secret: only ids.
        for name in names {
            let dump = try await redis.send(["DUMP", name])
            let bytes = try #require(dump.string)
            #expect(!bytes.contains("secret-openrouter"))
        }
    }

    @Test("one replica's concurrent calls share scripts and stay exact: grants, refusals, exclusions, settles, releases")
    func batchedCallsStayExact() async throws {
        let harness = try StoreHarness(.redis, replicas: 1)
        let server = try #require(harness.server)
        let redis = try RedisClient(url: server.url)
        _ = try await redis.send(["CONFIG", "RESETSTAT"]).checked()
        let pool = StoreHarness.pool(keys: 3, limits: KeyLimits(requestsPerMinute: 15, tokensPerMinute: 100_000), gap: 0)
        let store = harness.store
        // 200 reserves at once on one client; every fourth excludes the first key.
        let outcomes = try await withThrowingTaskGroup(of: Reservation.self) { group in
            for index in 0..<200 {
                let excluding: Set<String> = index % 4 == 0 ? [pool.keyIDs[0]] : []
                group.addTask { try await store.reserve(pool, estimatedTokens: 100, excluding: excluding) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.leases.count == 45)
        #expect(outcomes.perKey.values.sorted() == [15, 15, 15])
        #expect(outcomes.retryAfters.count == 155)
        // Every grant fell in the clock's one second (noon + 250 ms): each refusal, whether its
        // script computed it or repeated the batch's previous one, says the minute ends then.
        #expect(Set(outcomes.retryAfters) == [59_750])
        let reserveCalls = try await evalshaCalls(redis)
        // Shared scripts: far fewer EVALSHA calls than reserves.
        #expect(reserveCalls < 100)

        // Settle 30 leases to 7 tokens and release the other 15, all at once.
        let leases = outcomes.leases
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, lease) in leases.enumerated() {
                group.addTask {
                    if index < 30 { try await store.settle(lease, actualTokens: 7) } else { try await store.release(lease) }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await evalshaCalls(redis) - reserveCalls < 45)
        let usage = try await harness.usage(pool)
        #expect(usage.keys.map(\.requestsMinute).reduce(0, +) == 30)
        #expect(usage.keys.map(\.requestsDay).reduce(0, +) == 30)
        #expect(usage.keys.map(\.tokensMinute).reduce(0, +) == 30 * 7)
        #expect(usage.keys.map(\.totalTokens).reduce(0, +) == 30 * 7)
        #expect(usage.keys.map(\.totalRequests).reduce(0, +) == 30)
        // Per key: what its own leases say.
        for key in usage.keys {
            let own = leases.enumerated().filter { $0.element.keyID == key.id }
            #expect(key.requestsMinute == own.filter { $0.offset < 30 }.count)
        }
    }

    /// EVALSHA calls the server has run since the last CONFIG RESETSTAT.
    private func evalshaCalls(_ redis: RedisClient) async throws -> Int {
        let info = try #require(try await redis.send(["INFO", "commandstats"]).checked().string)
        let line = try #require(info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("cmdstat_evalsha:") })
        let calls = try #require(line.split(separator: ",").first { $0.contains("calls=") }?.split(separator: "=").last)
        return try #require(Int(calls))
    }
}
