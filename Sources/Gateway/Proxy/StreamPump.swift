import Foundation
import HTTPTypes
import NIOCore
import Synchronization

/// Moves an upstream body to the client while watching the client's side of the connection.
///
/// A client that leaves ends the relay at once (its `inputClosed`), even while the upstream is
/// silent: the close aborts the upstream answer (`UpstreamChunks.abort`, which closes the
/// upstream connection), so the read waiting for it fails and the relay sees why. Without this,
/// a gateway would keep generating (and paying for) tokens nobody reads. The shutdown drain
/// ends a relay the same way. Each chunk is written before the next is read, so a slow client
/// slows the reads from the provider rather than filling the gateway's memory (the upstream body
/// itself buffers at most a few chunks, see `UpstreamConnection`).
///
/// The chunks are read in the relay's own task: an earlier version read them in a child task
/// and handed them over through an `AsyncThrowingChannel`, which cost a task switch and two
/// locked state-machine steps per SSE event (9 % of the gateway's CPU with 200 streams).
enum StreamPump {
    enum Outcome: Sendable, Equatable {
        case finished
        /// The upstream broke the stream (reset, read timeout, truncated body).
        case upstreamFailed
        /// The client left, or a write to it failed.
        case clientGone
        /// The client stopped taking bytes: one write waited longer than the write timeout, and
        /// the gateway closed the connection.
        case clientStalled
        /// The gateway is shutting down and the drain time ran out.
        case drainExpired
    }

    struct ClientGone: Error {}

    /// Why the relay was stopped from outside, if it was.
    private enum Stop: UInt8 {
        case none, clientGone, drainExpired
    }

    /// When the write in progress began (`NIODeadline` uptime ns), 0 between writes.
    private final class WriteClock: Sendable {
        let started = Atomic<UInt64>(0)
        let stalled = Atomic<Bool>(false)
        /// A `Stop`'s raw value: the first reason to stop wins.
        private let reason = Atomic<UInt8>(Stop.none.rawValue)

        func stop(_ reason: Stop) {
            _ = self.reason.compareExchange(expected: Stop.none.rawValue, desired: reason.rawValue, ordering: .relaxed)
        }

        var stopped: Stop { Stop(rawValue: reason.load(ordering: .relaxed)) ?? .none }
    }

    /// `writeTimeout`: the longest one write to the client may wait. Back-pressure holds the
    /// upstream while the client reads slowly, which is right; a client that stops reading
    /// without closing would otherwise hold the upstream stream, its connection and the key's
    /// reservation for good.
    static func run(
        upstream: UpstreamChunks,
        channel: any Channel,
        drain: ShutdownDrain,
        writeTimeout: TimeAmount,
        deliver: (ByteBuffer) async throws -> Void
    ) async -> Outcome {
        let clock = WriteClock()
        let observer = InboundCloseObserver()
        let watching = (try? await channel.pipeline.addHandler(observer, position: .first).get()) != nil
        // A stop from outside aborts the upstream answer, which ends the read the relay may be
        // waiting in (for a silent upstream, indefinitely).
        let stop: @Sendable (Stop) -> Void = { reason in
            clock.stop(reason)
            upstream.abort()
        }
        observer.onClose { stop(.clientGone) }
        // A drain that runs out ends the relay like a client that leaves (the stream that
        // started after it ran out ends at once).
        let drainToken = drain.register { stop(.drainExpired) }
        if drainToken == nil { stop(.drainExpired) }
        // The observer is added only to an open channel: a client gone before it could be
        // watched would otherwise hold a silent upstream until the read timeout.
        if !watching { stop(.clientGone) }

        // A look every quarter of the timeout (at most 5 s apart), as a timer on the channel's
        // event loop rather than a task per stream: a write blocked for longer than the timeout
        // closes the connection, which fails that write.
        let limit = UInt64(max(0, writeTimeout.nanoseconds))
        let tick = min(max(.nanoseconds(writeTimeout.nanoseconds / 4), .milliseconds(50)), TimeAmount.seconds(5))
        let watch = channel.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { task in
            let started = clock.started.load(ordering: .relaxed)
            guard started != 0, NIODeadline.now().uptimeNanoseconds &- started > limit else { return }
            clock.stalled.store(true, ordering: .relaxed)
            task.cancel()
            channel.close(promise: nil)
        }
        defer { watch.cancel() }
        /// What a stop from outside means, once the relay noticed it.
        func stopped() -> Outcome? {
            switch clock.stopped {
            case .none: nil
            // Also how a stalled client's close may surface (the write it was stuck in can end
            // without an error once the channel is gone).
            case .clientGone: clock.stalled.load(ordering: .relaxed) ? .clientStalled : .clientGone
            case .drainExpired: .drainExpired
            }
        }
        var outcome = Outcome.finished
        do {
            while true {
                if let stoppedOutcome = stopped() {
                    outcome = stoppedOutcome
                    break
                }
                guard let chunk = try await upstream.next() else { break }
                // Chunks that arrived before a stop are not written to a client that left.
                if let stoppedOutcome = stopped() {
                    outcome = stoppedOutcome
                    break
                }
                clock.started.store(NIODeadline.now().uptimeNanoseconds, ordering: .relaxed)
                do {
                    try await deliver(chunk)
                } catch {
                    outcome = clock.stalled.load(ordering: .relaxed) ? .clientStalled : .clientGone
                    break
                }
                clock.started.store(0, ordering: .relaxed)
            }
        } catch {
            // The read failed: the upstream broke, or the abort of a stop from outside.
            outcome = stopped() ?? .upstreamFailed
        }
        if outcome != .finished, outcome != .upstreamFailed {
            // The upstream answer is not read to its end: its connection closes, so the provider
            // stops generating (the chunks are also released later, which would close it then).
            upstream.abort()
        }
        observer.cancel()
        if let drainToken { drain.unregister(drainToken) }
        if watching { try? await channel.pipeline.removeHandler(observer).get() }
        return outcome
    }

    /// The event that ends a stream in which the provider reported an error.
    static func errorEvent(_ error: GatewayError) -> ByteBuffer {
        var event = ByteBuffer(string: "data: ")
        var json = error.json()
        event.writeBuffer(&json)
        event.writeString("\n\n")
        return event
    }

    /// The event that ends a stream the shutdown drain cut: an error, never a clean finish.
    static let drainEvent = errorEvent(GatewayError(
        .serviceUnavailable, "The gateway is shutting down and its drain time ran out before the stream finished.",
        type: "server_error", code: "gateway_shutting_down"))

    /// The event that ends a broken stream: the openai SDKs raise an `APIError` for a chunk
    /// carrying `error`, so the client never mistakes a cut answer for a complete one.
    static func errorEvent(provider: String) -> ByteBuffer {
        errorEvent(GatewayError(
            .badGateway, "The upstream provider '\(provider)' broke the stream before it finished.",
            type: "upstream_error", code: "stream_interrupted"))
    }
}
