import Logging
import Synchronization

/// Settles and releases that Redis could not take, kept and made again once it can.
///
/// Settling must not be lost (DESIGN). A settle refused during an outage left its reservation's
/// estimate (the prompt plus `max_tokens`, often far above the answer) in the key's day and usage
/// totals for good, and in its minute window for up to a minute: a long outage used up daily
/// token limits that the keys never spent. Only errors that say the script did not run are kept
/// (no connection, a server not serving, a refused handshake): a settle that timed out or lost
/// its connection mid-call may have run, and making it again would apply its correction twice.
/// A late settle is still exact: it corrects the day it was counted on (the lease carries it),
/// and the minute window too while the reservation's second is still in it.
final class SettleBacklog: Sendable {
    struct Entry: Sendable {
        let lease: Lease
        let actualTokens: Int
        let release: Bool

        /// The settle (or release) itself, on `store`.
        func make(on store: any UsageStore) async throws {
            if release {
                try await store.release(lease)
            } else {
                try await store.settle(lease, actualTokens: actualTokens)
            }
        }
    }

    /// The most entries kept: an outage of hours at a high rate must not grow memory without
    /// bound. Past it, new entries are dropped and counted (their estimates stay, as before).
    static let capacity = 100_000

    private struct State {
        /// Oldest first. An entry leaves only once it is made (or failed for good), so the
        /// count stays true while a pass works through them.
        var entries: [Entry] = []
        /// The task that retries them; nil when the backlog is empty.
        var drain: Task<Void, Never>?
        /// Dropped at capacity since the last report.
        var dropped = 0
        /// Shutdown has begun (`finish`): no new drain starts, so no pass runs beside its own.
        var finishing = false
    }

    private let state = Mutex(State())
    private let retryInterval: Duration
    private let logger: Logger?
    private let make: @Sendable (Entry) async throws -> Void

    init(retryInterval: Duration = .seconds(1), logger: Logger?, make: @escaping @Sendable (Entry) async throws -> Void) {
        self.retryInterval = retryInterval
        self.logger = logger
        self.make = make
    }

    /// Whether a failed settle can be kept: the error says the script never ran.
    static func keeps(_ error: any Error) -> Bool {
        guard let error = error as? RedisError else { return false }
        return error.code == .unavailable || error.code == .notServing || error.code == .authentication
            || error.code == .database
    }

    /// Entries waiting for Redis.
    var count: Int { state.withLock { $0.entries.count } }

    /// Keeps `entry`; the first one of an outage starts the task that retries them.
    func add(_ entry: Entry) {
        let (started, droppedFirst) = state.withLock { state -> (Bool, Bool) in
            guard state.entries.count < Self.capacity else {
                state.dropped += 1
                return (false, state.dropped == 1)
            }
            state.entries.append(entry)
            guard state.drain == nil, !state.finishing else { return (false, false) }
            // Started under the lock, so no second drain can start beside it. Not a stray loop:
            // it lives only while entries wait (it ends when every one is made), and shutdown
            // cancels it (`finish`) before the store closes.
            state.drain = Task { await self.drain() }
            return (true, false)
        }
        if started { logger?.warning("settles are kept while Redis cannot take them, and made once it can") }
        if droppedFirst {
            logger?.error("\(Self.capacity) settles are waiting for Redis: further ones are dropped (their estimates stay counted)")
        }
    }

    /// Makes the entries in order, every `retryInterval`, until none are left or it is
    /// cancelled (at shutdown, by `finish`).
    private func drain() async {
        while true {
            try? await Task.sleep(for: retryInterval)
            if Task.isCancelled { break }
            if await pass() { return }
        }
        // Cancelled by `finish`, which makes the last attempt itself.
        state.withLock { $0.drain = nil }
    }

    /// One attempt at the entries, oldest first, one at a time; stops at the first that Redis
    /// still cannot take (the rest wait for the next attempt), or when cancelled. Only one pass
    /// runs at a time (the drain's, or `finish`'s once the drain has ended), so the first entry
    /// is still the one it made when it removes it. True when the backlog is empty; the drain
    /// then ends.
    private func pass() async -> Bool {
        var made = 0
        attempts: while !Task.isCancelled {
            guard let entry = state.withLock({ $0.entries.first }) else { break }
            var stop = false
            do {
                try await make(entry)
                made += 1
            } catch where Self.keeps(error) {
                break attempts
            } catch {
                logger?.error("a kept settle for \(entry.lease.provider) key \(entry.lease.keyID) failed: \(error)")
                // Timed out or cut off: it may have run, so it is not kept; the next would only
                // wait out the same timeout, so the rest wait for the next attempt.
                stop = (error as? RedisError)?.isConnectionError == true
            }
            state.withLock { _ = $0.entries.removeFirst() }
            if stop { break attempts }
        }
        let (ended, dropped) = state.withLock { state -> (Bool, Int) in
            let dropped = state.dropped
            state.dropped = 0
            let ended = state.entries.isEmpty
            if ended { state.drain = nil }
            return (ended, dropped)
        }
        if made > 0 || dropped > 0 {
            logger?.notice("made \(made) settles kept while Redis could not take them (\(dropped) dropped at capacity)")
        }
        return ended
    }

    /// At shutdown: stops the retries, then makes one last attempt at what is kept, within
    /// `limit` in all; says what is lost.
    func finish(within limit: Duration) async {
        let running = state.withLock { state -> Task<Void, Never>? in
            state.finishing = true
            return state.drain
        }
        guard count > 0 else { return }
        let deadline = ContinuousClock.now + limit
        running?.cancel()
        // The drain's pass in progress stops after the entry it is making (at most the command
        // timeout); a pass of this task's own must not run beside it.
        var ended = true
        if let running { ended = await TaskWait.ended(running, by: deadline) }
        if ended {
            let attempt = Task { _ = await pass() }
            _ = await TaskWait.ended(attempt, by: deadline)
            attempt.cancel()
            await attempt.value
        }
        let left = count
        if left > 0 { logger?.error("\(left) settles not made: Redis could not take them before shutdown (their estimates stay counted)") }
    }
}
