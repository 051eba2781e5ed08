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
    }

    /// The most entries kept: an outage of hours at a high rate must not grow memory without
    /// bound. Past it, new entries are dropped and counted (their estimates stay, as before).
    static let capacity = 100_000

    private struct State {
        var entries: [Entry] = []
        /// A drain task is running (it ends when the backlog is empty).
        var draining = false
        /// Dropped at capacity since the last report.
        var dropped = 0
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
        let (start, droppedFirst) = state.withLock { state -> (Bool, Bool) in
            guard state.entries.count < Self.capacity else {
                state.dropped += 1
                return (false, state.dropped == 1)
            }
            state.entries.append(entry)
            guard !state.draining else { return (false, false) }
            state.draining = true
            return (true, false)
        }
        if start {
            logger?.warning("settles are kept while Redis cannot take them, and made once it can")
            Task { await self.drain() }
        }
        if droppedFirst {
            logger?.error("\(Self.capacity) settles are waiting for Redis: further ones are dropped (their estimates stay counted)")
        }
    }

    /// Makes the entries in order, every `retryInterval`, until none are left.
    private func drain() async {
        while true {
            try? await Task.sleep(for: retryInterval)
            if await pass() { return }
        }
    }

    /// One attempt at every entry, oldest first; stops at the first that Redis still cannot
    /// take (the rest wait for the next attempt). True when the backlog is empty and the drain
    /// has ended.
    private func pass() async -> Bool {
        let batch = state.withLock { state -> [Entry] in
            defer { state.entries = [] }
            return state.entries
        }
        var index = 0
        var made = 0
        attempts: while index < batch.count, !Task.isCancelled {
            do {
                try await make(batch[index])
                made += 1
            } catch where Self.keeps(error) {
                break attempts
            } catch {
                let lease = batch[index].lease
                logger?.error("a kept settle for \(lease.provider) key \(lease.keyID) failed: \(error)")
                // Timed out or cut off: it may have run, so it is not kept; the next would only
                // wait out the same timeout, so the rest wait for the next attempt.
                if (error as? RedisError)?.isConnectionError == true {
                    index += 1
                    break attempts
                }
            }
            index += 1
        }
        let (ended, dropped) = state.withLock { state -> (Bool, Int) in
            state.entries.insert(contentsOf: batch[index...], at: 0)
            let dropped = state.dropped
            state.dropped = 0
            if state.entries.isEmpty { state.draining = false }
            return (state.entries.isEmpty, dropped)
        }
        if made > 0 || dropped > 0 {
            logger?.notice("made \(made) settles kept while Redis could not take them (\(dropped) dropped at capacity)")
        }
        return ended
    }

    /// At shutdown: one last attempt at what is kept, for at most `limit`; says what is lost.
    func finish(within limit: Duration) async {
        guard count > 0 else { return }
        let attempt = Task { _ = await pass() }
        let timer = Task {
            try await Task.sleep(for: limit)
            attempt.cancel()
        }
        await attempt.value
        timer.cancel()
        let left = count
        if left > 0 { logger?.error("\(left) settles not made: Redis could not take them before shutdown (their estimates stay counted)") }
    }
}
