import Logging
import Synchronization

/// The drain that follows SIGTERM: the server has stopped accepting, in-flight requests and
/// streams go on for up to `server.shutdown_drain_seconds`, then the streams still open are
/// ended with an error event (and settled), and a few seconds later whatever is left is
/// cancelled so the process always exits.
///
/// Streams register while they relay; the drain ends them through the closure they registered,
/// the same way a client that leaves ends them, so their usage is settled on the one path.
final class ShutdownDrain: Sendable {
    enum Phase: Sendable, Equatable {
        case serving
        case draining
        /// The drain time is over: streams still registered have been told to end.
        case expired
    }

    private struct Registry {
        var phase = Phase.serving
        var nextToken = 0
        var streams: [Int: @Sendable () -> Void] = [:]
        var forceStop: (@Sendable () -> Void)?
    }

    private let registry = Mutex(Registry())
    /// HTTP requests being handled, streams included until they end (`ObservabilityMiddleware`
    /// counts them): what the drain waits for, of which the registered streams are a part.
    private let requests = Atomic<Int>(0)
    /// Time between the streams being ended and the forced stop: enough to write their error
    /// events and settle them (one store round trip each).
    static let graceAfterExpirySeconds: Double = 5

    var phase: Phase { registry.withLock { $0.phase } }

    /// Streams relaying right now.
    var openStreams: Int { registry.withLock { $0.streams.count } }

    /// Requests in flight on this replica, streams included.
    var requestsInFlight: Int { requests.load(ordering: .relaxed) }

    func requestStarted() { requests.add(1, ordering: .relaxed) }

    func requestFinished() { requests.subtract(1, ordering: .relaxed) }

    /// Registers a stream's way to end itself. Returns nil, and calls nothing, once the drain
    /// has expired: the caller ends at once instead.
    func register(_ end: @escaping @Sendable () -> Void) -> Int? {
        registry.withLock { registry -> Int? in
            guard registry.phase != .expired else { return nil }
            registry.nextToken += 1
            registry.streams[registry.nextToken] = end
            return registry.nextToken
        }
    }

    func unregister(_ token: Int) {
        _ = registry.withLock { $0.streams.removeValue(forKey: token) }
    }

    /// What stops the process if the drain's end does not: cancels the service group.
    func onForceStop(_ stop: @escaping @Sendable () -> Void) {
        registry.withLock { $0.forceStop = stop }
    }

    /// Starts the drain clock (once). `seconds` is read from the running config at this moment,
    /// so a reloaded value applies to the next shutdown.
    func begin(seconds: Double, logger: Logger) {
        let started = registry.withLock { registry -> Bool in
            guard registry.phase == .serving else { return false }
            registry.phase = .draining
            return true
        }
        guard started else { return }
        // Every request counts, not only streams: a non-streamed one waiting for its provider
        // holds the shutdown just as long.
        let requests = requestsInFlight
        let streams = openStreams
        logger.notice(
            "shutting down: no new connections; draining \(requests) requests in flight (\(streams) of them streams) for up to \(seconds) s",
            metadata: [
                "requests_in_flight": .stringConvertible(requests), "streams_in_flight": .stringConvertible(streams),
                "drain_seconds": .stringConvertible(seconds),
            ])
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            await end(because: "drain time over", grace: Self.graceAfterExpirySeconds, logger: logger)
        }
    }

    /// Time between the streams being ended and the forced stop after a second stop signal:
    /// whoever sends it wants the process gone, and a settle is one store round trip.
    static let graceAfterCutSeconds: Double = 1

    /// A second SIGTERM or SIGINT while draining: the drain time is over now. Open streams end
    /// with their error event and are settled, and whatever is left is stopped a second later.
    /// Does nothing before the drain began or after it ended.
    func cutShort(logger: Logger) {
        guard phase == .draining else { return }
        logger.notice("second stop signal: ending the drain now")
        Task { await end(because: "drain cut short", grace: Self.graceAfterCutSeconds, logger: logger) }
    }

    /// Ends the drain once, whichever of the clock and a second signal comes first.
    private func end(because reason: String, grace: Double, logger: Logger) async {
        guard let ended = expire(when: { $0 == .draining }) else { return }
        if ended > 0 {
            logger.warning("\(reason): ended \(ended) streams still open", metadata: ["streams_ended": .stringConvertible(ended)])
        }
        try? await Task.sleep(for: .seconds(grace))
        let stop = registry.withLock { $0.forceStop }
        if let stop {
            let requests = requestsInFlight
            logger.warning(
                "\(reason): stopping \(requests) requests still in flight",
                metadata: ["requests_in_flight": .stringConvertible(requests)])
            stop()
        }
    }

    /// Ends every registered stream; returns how many there were.
    @discardableResult
    func expire() -> Int {
        expire(when: { _ in true }) ?? 0
    }

    /// Moves to `.expired` and ends the registered streams, if `allowed` the current phase (one
    /// step under the lock, so two callers never both end the drain); nil when not allowed.
    private func expire(when allowed: (Phase) -> Bool) -> Int? {
        let ends = registry.withLock { registry -> [@Sendable () -> Void]? in
            guard allowed(registry.phase) else { return nil }
            registry.phase = .expired
            defer { registry.streams.removeAll() }
            return Array(registry.streams.values)
        }
        guard let ends else { return nil }
        for end in ends { end() }
        return ends.count
    }
}
