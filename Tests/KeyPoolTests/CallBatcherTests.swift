import Synchronization
import Testing

@testable import KeyPool

/// The batcher's rules, with an execute the test holds open and releases: who goes alone, who
/// waits, what goes together, and what a failure does to those waiting.
@Suite("CallBatcher: concurrent store calls share one script", .timeLimit(.minutes(1)))
struct CallBatcherTests {
    /// Records every batch and holds each call until the test releases it.
    final class HeldCalls: Sendable {
        private let state = Mutex<(batches: [[Int]], held: [CheckedContinuation<(any Error)?, Never>])>(([], []))

        var batches: [[Int]] { state.withLock { $0.batches } }
        var heldCount: Int { state.withLock { $0.held.count } }

        func execute(_ items: [Int]) async throws -> [Int] {
            let failure = await withCheckedContinuation { continuation in
                state.withLock {
                    $0.batches.append(items)
                    $0.held.append(continuation)
                }
            }
            if let failure { throw failure }
            return items.map { $0 * 10 }
        }

        /// Lets the oldest held call finish, with `failure` or its results.
        func release(failing failure: (any Error)? = nil) {
            let continuation = state.withLock { $0.held.removeFirst() }
            continuation.resume(returning: failure)
        }
    }

    /// Waits (up to 5 s) until `condition` holds.
    func until(_ condition: @Sendable () -> Bool) async throws {
        for _ in 0..<5_000 where !condition() { try await Task.sleep(for: .milliseconds(1)) }
        #expect(condition())
    }

    func batcher(
        _ calls: HeldCalls, maxBatch: Int = 64, maxWait: Duration = .seconds(60),
        compatible: @escaping @Sendable (Int, Int) -> Bool = { _, _ in true }
    ) -> CallBatcher<Int, Int> {
        CallBatcher(maxBatch: maxBatch, maxWait: maxWait, compatible: compatible) { try await calls.execute($0) }
    }

    /// Starts `item` as the call in flight (nothing else is) and waits until it is held.
    func lead(_ item: Int, on batcher: CallBatcher<Int, Int>, _ calls: HeldCalls) async throws -> Task<Int, any Error> {
        let task = Task { try await batcher.submit(item, group: "p") }
        try await until { calls.heldCount == 1 }
        return task
    }

    /// Starts `items` as separate callers while a call is in flight, and waits until they all
    /// wait behind it.
    func queue(_ items: [Int], on batcher: CallBatcher<Int, Int>) async throws -> [Task<Int, any Error>] {
        let before = batcher.waiting(in: "p")
        let tasks = items.map { item in Task { try await batcher.submit(item, group: "p") } }
        try await until { batcher.waiting(in: "p") == before + items.count }
        return tasks
    }

    @Test("a lone call goes at once; callers arriving meanwhile go together in the next call")
    func callersWaitAndShare() async throws {
        let calls = HeldCalls()
        let batcher = batcher(calls)
        let first = try await lead(1, on: batcher, calls)
        #expect(calls.batches == [[1]])
        let waiting = try await queue(Array(2...11), on: batcher)
        // Another group is not held up by this one.
        async let other = batcher.submit(99, group: "q")
        try await until { calls.heldCount == 2 }
        calls.release()  // the first call of "p"
        #expect(try await first.value == 10)
        try await until { calls.heldCount == 2 }
        calls.release()  // "q"
        #expect(try await other == 990)
        calls.release()  // the shared call of "p"
        for (index, task) in waiting.enumerated() { #expect(try await task.value == (index + 2) * 10) }
        #expect(calls.batches.count == 3)
        #expect(calls.batches[2].sorted() == Array(2...11))
        #expect(batcher.waiting(in: "p") == 0)
    }

    @Test("at most maxBatch per call, and only compatible items together, oldest first")
    func batchesAreCappedAndCompatible() async throws {
        let calls = HeldCalls()
        let batcher = batcher(calls, maxBatch: 3, compatible: { $0 % 2 == $1 % 2 })
        let first = try await lead(0, on: batcher, calls)
        var waiting: [Task<Int, any Error>] = []
        // One at a time, so the queue's order is known.
        for item in [1, 2, 3, 5, 7, 9] { waiting += try await queue([item], on: batcher) }
        calls.release()
        #expect(try await first.value == 0)
        // The oldest waiter leads each call: 2 waited longer than 7 and 9.
        for expected in [[1, 3, 5], [2], [7, 9]] {
            try await until { calls.heldCount == 1 }
            #expect(calls.batches.last == expected)
            calls.release()
        }
        #expect(calls.batches.count == 4)
        for (task, item) in zip(waiting, [1, 2, 3, 5, 7, 9]) { #expect(try await task.value == item * 10) }
    }

    @Test("a connection error fails only its own call; the waiters go next (another connection may serve them)")
    func connectionErrorKeepsWaiters() async throws {
        let calls = HeldCalls()
        let batcher = batcher(calls)
        let first = try await lead(1, on: batcher, calls)
        let waiting = try await queue(Array(2...6), on: batcher)
        calls.release(failing: RedisError(.timeout, "no answer"))
        await #expect(throws: RedisError(.timeout, "no answer")) { try await first.value }
        try await until { calls.heldCount == 1 }
        calls.release()
        for (index, task) in waiting.enumerated() { #expect(try await task.value == (index + 2) * 10) }
        #expect(calls.batches.map { $0.sorted() } == [[1], Array(2...6)])
    }

    @Test("an error reply fails only its own call; the waiters still go")
    func serverErrorKeepsWaiters() async throws {
        let calls = HeldCalls()
        let batcher = batcher(calls)
        let first = try await lead(1, on: batcher, calls)
        let waiting = try await queue([2, 3], on: batcher)
        calls.release(failing: RedisError(.server, "ERR something"))
        await #expect(throws: RedisError(.server, "ERR something")) { try await first.value }
        try await until { calls.heldCount == 1 }
        calls.release()
        #expect(try await waiting[0].value == 20)
        #expect(try await waiting[1].value == 30)
        #expect(calls.batches.map { $0.sorted() } == [[1], [2, 3]])
    }

    @Test("callers that waited past maxWait behind a hung call fail as not sent; later ones still go")
    func waitersPastMaxWaitFail() async throws {
        let calls = HeldCalls()
        // A wide margin for the fresh caller: on a loaded machine the test's own steps between
        // queueing it and the release can take a good part of a second.
        let batcher = batcher(calls, maxWait: .seconds(1))
        let first = try await lead(1, on: batcher, calls)
        let stale = try await queue([2, 3], on: batcher)
        try await Task.sleep(for: .milliseconds(1_050))
        let fresh = try await queue([4], on: batcher)
        calls.release()
        #expect(try await first.value == 10)
        for task in stale {
            await #expect { try await task.value } throws: { ($0 as? RedisError)?.code == .unavailable }
        }
        try await until { calls.heldCount == 1 }
        calls.release()
        #expect(try await fresh[0].value == 40)
        #expect(calls.batches == [[1], [4]])
        // Every waiter was expired or served: the group ended, so the next caller leads at once.
        #expect(batcher.waiting(in: "p") == 0)
        let next = try await lead(5, on: batcher, calls)
        calls.release()
        #expect(try await next.value == 50)
    }
}
