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
/// A caller that has waited longer than `maxWait` when its turn comes fails with `.unavailable`
/// (its call was never sent, so a settle can be kept and made later) instead of going: when Redis hangs rather than refuses, each call in flight takes the
/// command timeout to fail, and callers queued behind several of them would otherwise wait that
/// long times the number of batches ahead of them (16 batches, 32 s, for 1,000 waiting requests
/// of one provider). With it, a wait is bounded by about twice the command timeout.
final class CallBatcher<Item: Sendable, Output: Sendable>: Sendable {
    typealias Execute = @Sendable ([Item]) async throws -> [Output]

    /// Resumed exactly once: by `start`'s task, after the batch that took it, never elsewhere.
    private typealias Continuation = UnsafeContinuation<Output, any Error>

    private struct Waiter {
        let item: Item
        let continuation: Continuation
        let since: ContinuousClock.Instant
    }

    /// Present while the group has a call in flight; holds the callers waiting for the next one.
    private let groups = Mutex<[String: [Waiter]]>([:])
    private let maxBatch: Int
    private let maxWait: Duration
    /// Whether two items can share one call (the reserve script takes one pool descriptor).
    private let compatible: @Sendable (Item, Item) -> Bool
    private let execute: Execute

    init(
        maxBatch: Int, maxWait: Duration, compatible: @escaping @Sendable (Item, Item) -> Bool, execute: @escaping Execute
    ) {
        self.maxBatch = max(1, maxBatch)
        self.maxWait = maxWait
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
            let waiter = Waiter(item: item, continuation: continuation, since: .now)
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
    /// first, at most `maxBatch`), or the group ends when none wait. Waiters past `maxWait` fail.
    private func passOn(_ group: String) {
        let expiredBefore = ContinuousClock.now - maxWait
        let (batch, expired) = groups.withLock { groups -> ([Waiter], [Waiter]) in
            guard let waiting = groups[group] else { return ([], []) }
            var batch: [Waiter] = []
            var rest: [Waiter] = []
            var expired: [Waiter] = []
            for waiter in waiting {
                if waiter.since < expiredBefore {
                    expired.append(waiter)
                } else if batch.count < maxBatch, batch.first.map({ compatible($0.item, waiter.item) }) ?? true {
                    batch.append(waiter)
                } else {
                    rest.append(waiter)
                }
            }
            groups[group] = batch.isEmpty ? nil : rest
            return (batch, expired)
        }
        // Resumed outside the lock: a continuation may run its caller at once.
        if !expired.isEmpty {
            let failure = RedisError(.unavailable, "not sent: waited over \(maxWait) behind the calls in flight")
            for waiter in expired { waiter.continuation.resume(throwing: failure) }
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
