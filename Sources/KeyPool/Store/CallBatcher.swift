import Synchronization

/// Group commit for script calls: while one call of a group (a provider) is in flight, later
/// calls of the group wait, and all that gathered go together in the group's next call.
///
/// A lone caller runs its call itself, at once, in its own task: concurrency 1 pays nothing.
/// Under load, Redis runs one script for many reservations instead of one each, so the
/// per-script cost (the EVALSHA itself, `TIME`, reading the provider's state, writing it back)
/// is paid once per batch; on Redis 7.0 each `redis.call` alone costs about 2 us. A waiting
/// caller waits for the call in flight, then goes in the next one (more than `maxBatch` waiting,
/// or incompatible items, mean more than one call to wait for).
/// Semantics do not change: a batch script handles its items one after another, exactly as the
/// same calls arriving back to back would be handled. A failed call fails only its own callers:
/// those waiting behind it go next, as they would have without batching (a timeout or a lost
/// connection is one pooled connection's; the next call may take another, and when Redis is
/// down the client fails it at once).
final class CallBatcher<Item: Sendable, Output: Sendable>: Sendable {
    typealias Execute = @Sendable ([Item]) async throws -> [Output]

    /// Resumed exactly once: by `start`'s task, after the batch that took it, never elsewhere.
    private typealias Continuation = UnsafeContinuation<Output, any Error>

    private struct Waiter {
        let item: Item
        let continuation: Continuation
    }

    /// Present while the group has a call in flight; holds the callers waiting for the next one.
    private let groups = Mutex<[String: [Waiter]]>([:])
    private let maxBatch: Int
    /// Whether two items can share one call (the reserve script takes one pool descriptor).
    private let compatible: @Sendable (Item, Item) -> Bool
    private let execute: Execute

    init(maxBatch: Int, compatible: @escaping @Sendable (Item, Item) -> Bool, execute: @escaping Execute) {
        self.maxBatch = max(1, maxBatch)
        self.compatible = compatible
        self.execute = execute
    }

    func submit(_ item: Item, group: String) async throws -> Output {
        let leads = groups.withLock { groups in
            guard groups[group] == nil else { return false }
            groups[group] = []
            return true
        }
        if leads {
            // The common case at low load: no hop to another task.
            let outcome: Result<[Output], any Error>
            do { outcome = .success(try await run([item])) } catch { outcome = .failure(error) }
            passOn(group)
            return try outcome.get()[0]
        }
        return try await withUnsafeThrowingContinuation { continuation in
            let waiter = Waiter(item: item, continuation: continuation)
            // The call in flight may have finished since the check above.
            let leadsNow = groups.withLock { groups in
                guard groups[group] != nil else {
                    groups[group] = []
                    return true
                }
                groups[group]!.append(waiter)
                return false
            }
            if leadsNow { start([waiter], group: group) }
        }
    }

    /// How many callers wait behind the group's call in flight (for tests).
    func waiting(in group: String) -> Int {
        groups.withLock { $0[group]?.count ?? 0 }
    }

    /// After a call: the next batch from the waiters (those compatible with the first, oldest
    /// first, at most `maxBatch`), or the group ends when none wait.
    private func passOn(_ group: String) {
        let batch = groups.withLock { groups -> [Waiter] in
            guard let waiting = groups[group], let first = waiting.first else {
                groups[group] = nil
                return []
            }
            var batch: [Waiter] = []
            var rest: [Waiter] = []
            for waiter in waiting {
                if batch.count < maxBatch, compatible(first.item, waiter.item) {
                    batch.append(waiter)
                } else {
                    rest.append(waiter)
                }
            }
            groups[group] = rest
            return batch
        }
        if !batch.isEmpty { start(batch, group: group) }
    }

    private func start(_ batch: [Waiter], group: String) {
        Task {
            do {
                let outputs = try await run(batch.map(\.item))
                for (waiter, output) in zip(batch, outputs) { waiter.continuation.resume(returning: output) }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
            passOn(group)
        }
    }

    /// One call for `items`: one output per item, in order.
    private func run(_ items: [Item]) async throws -> [Output] {
        let outputs = try await execute(items)
        guard outputs.count == items.count else {
            throw RedisError(.server, "a batch of \(items.count) returned \(outputs.count) results")
        }
        return outputs
    }
}
