import NIOCore

/// Waiting without blocking a thread: every delay is a `Task.sleep`.
enum Delay {
    static func milliseconds(_ ms: Int?) async {
        guard let ms, ms > 0 else { return }
        // Cancellation only ends the wait early; the answer goes on (or fails on a closed channel).
        try? await Task.sleep(for: .milliseconds(ms))
    }

    /// Latency plus a uniform random jitter in 0...jitter.
    static func latency(_ faults: Faults) async {
        let jitter = faults.jitterMs.map { $0 > 0 ? Int.random(in: 0...$0) : 0 } ?? 0
        let total = (faults.latencyMs ?? 0) + jitter
        await milliseconds(total)
    }

    /// Waits until the client closes the connection (capped at one hour), polling because a hung
    /// handler has no other signal that its peer left.
    static func untilClientLeaves(_ channel: any Channel) async {
        let observer = InboundCloseObserver()
        guard (try? await channel.pipeline.addHandler(observer, position: .first).get()) != nil else { return }
        let deadline = ContinuousClock.now + .seconds(3600)
        while channel.isActive && !observer.isClosed && ContinuousClock.now < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(25))
        }
    }
}

/// Thrown from a response body writer to drop the connection without ending the body: the
/// client sees a truncated stream, as when a provider's connection breaks.
struct ConnectionCut: Error {}
