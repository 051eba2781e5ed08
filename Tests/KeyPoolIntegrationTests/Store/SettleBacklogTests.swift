import Foundation
import Synchronization
import Testing

@testable import KeyPool

/// Settles that Redis cannot take during an outage are kept and made once it is back; those that
/// may have run are not made twice.
@Suite("Kept settles: an outage loses no settle", .timeLimit(.minutes(1)))
struct SettleBacklogTests {
    @Test("settles and releases refused while Redis is down are made, in order, once it is back")
    func keptUntilRedisIsBack() async throws {
        // Persistence on, as in production: the restarted server still holds the reservations.
        let directory = NSTemporaryDirectory() + "gw-kept-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try RedisServer(arguments: ["--appendonly", "yes", "--appendfsync", "always", "--dir", directory])
        let client = try RedisClient(url: server.url)
        let store = FallbackUsageStore(
            primary: RedisUsageStore(redis: client), mode: .failClosed, settleRetryInterval: .milliseconds(50))
        let pool = StoreHarness.pool(keys: 1, limits: KeyLimits(tokensPerDay: 100_000))
        let answered = try #require(try await store.reserve(pool, estimatedTokens: 1_000, excluding: []).lease)
        let unsent = try #require(try await store.reserve(pool, estimatedTokens: 500, excluding: []).lease)
        let failed = try #require(try await store.reserve(pool, estimatedTokens: 300, excluding: []).lease)

        server.kill()
        try await eventually(within: 5) { !client.isConnected }
        // Before: both threw (right after the loss, calls failing at once said "connection lost",
        // as if they had been sent), and the day kept 1,500 estimated tokens and 2 requests.
        try await store.settle(answered, actualTokens: 10)
        try await store.release(unsent)
        // A try that failed upstream meanwhile: its refund is kept too (fail_closed says the
        // store is away; the cooldown stays this replica's own).
        await #expect(throws: StoreUnavailableError.self) {
            try await store.fail(failed, pool: pool, failure: KeyFailure(cooldownMillis: 1_000, reason: "server_error", breaker: nil))
        }
        #expect(store.keptSettles == 3)

        try server.start()
        try await eventually(within: 10) { store.keptSettles == 0 }
        let usage = try await store.snapshot([pool])[0].keys[0]
        #expect(usage.tokensDay == 10)
        #expect(usage.requestsDay == 1)
        #expect(usage.tokensMinute == 10)
    }

    @Test("only errors that say the script never ran keep a settle")
    func whatIsKept() {
        for code in [RedisError.Code.unavailable, .notServing, .authentication, .database] {
            #expect(SettleBacklog.keeps(RedisError(code, "x")))
        }
        // These may have run: making them again would apply the correction twice.
        for code in [RedisError.Code.timeout, .connectionLost, .server, .closed, .encoding] {
            #expect(!SettleBacklog.keeps(RedisError(code, "x")))
        }
        #expect(!SettleBacklog.keeps(CancellationError()))
        // As the Redis client reports them: a command never written is kept; one written before
        // a refusal of another took the connection down may have run, and is not.
        #expect(SettleBacklog.keeps(RedisError(.connectionLost, "x").unsent))
        #expect(SettleBacklog.keeps(RedisError(.timeout, "x").unsent))
        #expect(!SettleBacklog.keeps(RedisError(.notServing, "BUSY").inDoubt))
        #expect(SettleBacklog.keeps(RedisError(.notServing, "BUSY").unsent))
    }

    @Test("kept settles are made in order; one that timed out (it may have run) is not made again")
    func orderAndUnkeptFailures() async throws {
        let made = Mutex<[Int]>([])
        let failing = Atomic<Bool>(true)
        let backlog = SettleBacklog(retryInterval: .milliseconds(20), logger: nil) { entry in
            if failing.load(ordering: .relaxed) { throw RedisError(.unavailable, "down") }
            if entry.actualTokens == 2 { throw RedisError(.timeout, "no reply") }
            made.withLock { $0.append(entry.actualTokens) }
        }
        let lease = Lease(provider: "p", keyID: "k", second: 0, day: 0, reservedTokens: 5)
        for tokens in 1...4 { backlog.add(.init(lease: lease, actualTokens: tokens, release: false)) }
        #expect(backlog.count == 4)
        failing.store(false, ordering: .relaxed)
        // The timed-out one (2) is dropped, and the pass stops there; the next pass makes 3, 4.
        try await eventually(within: 5) { backlog.count == 0 }
        #expect(made.withLock { $0 } == [1, 3, 4])
    }

    @Test("past its capacity the backlog keeps what it has and drops new entries")
    func capacity() {
        let backlog = SettleBacklog(retryInterval: .seconds(60), logger: nil) { _ in throw RedisError(.unavailable, "down") }
        let lease = Lease(provider: "p", keyID: "k", second: 0, day: 0, reservedTokens: 5)
        for _ in 0...SettleBacklog.capacity { backlog.add(.init(lease: lease, actualTokens: 1, release: false)) }
        #expect(backlog.count == SettleBacklog.capacity)
    }

    @Test("at shutdown the retries stop and one last attempt is made; what Redis still cannot take is left")
    func finishAtShutdown() async throws {
        let made = Atomic<Int>(0)
        let up = Atomic<Bool>(false)
        // Retries far apart: only finish's own attempt can make them in time.
        let backlog = SettleBacklog(retryInterval: .seconds(60), logger: nil) { _ in
            guard up.load(ordering: .relaxed) else { throw RedisError(.unavailable, "down") }
            made.add(1, ordering: .relaxed)
        }
        let lease = Lease(provider: "p", keyID: "k", second: 0, day: 0, reservedTokens: 5)
        for _ in 0..<3 { backlog.add(.init(lease: lease, actualTokens: 1, release: false)) }
        // Still down: the last attempt fails at once and the entries are left, within the limit.
        let clock = ContinuousClock()
        let start = clock.now
        await backlog.finish(within: .seconds(5))
        #expect(clock.now - start < .seconds(4))
        #expect(backlog.count == 3)
        // Back, and one more kept during shutdown (no new drain starts then): a second call's
        // last attempt makes them all.
        up.store(true, ordering: .relaxed)
        backlog.add(.init(lease: lease, actualTokens: 1, release: false))
        await backlog.finish(within: .seconds(5))
        #expect(backlog.count == 0)
        #expect(made.load(ordering: .relaxed) == 4)
    }
}
