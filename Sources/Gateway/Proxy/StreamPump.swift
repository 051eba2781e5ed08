import AsyncAlgorithms
import Foundation
import HTTPTypes
import NIOCore
import Synchronization

/// Moves an upstream body to the client while watching the client's side of the connection.
///
/// The upstream is read in a child task and handed over through a stream, so that a client that
/// leaves ends the relay at once (its `inputClosed` finishes the stream) even while the upstream
/// is silent; leaving the group then cancels the child, and `UpstreamBody` closes the upstream
/// connection. Without this, a gateway would keep generating (and paying for) tokens nobody reads.
/// The stream is an `AsyncThrowingChannel`: the reader's `send` waits until the writer takes the
/// chunk, so a slow client slows the reads from the provider rather than filling the gateway's
/// memory (the upstream body itself buffers at most a few chunks, see `UpstreamConnection`).
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
    private struct UpstreamBroke: Error {}
    private struct DrainExpired: Error {}

    /// When the write in progress began (`NIODeadline` uptime ns), 0 between writes.
    private final class WriteClock: Sendable {
        let started = Atomic<UInt64>(0)
        let stalled = Atomic<Bool>(false)
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
        let observer = InboundCloseObserver()
        let watching = (try? await channel.pipeline.addHandler(observer, position: .first).get()) != nil
        let chunks = AsyncThrowingChannel<ByteBuffer, any Error>()
        observer.onClose { chunks.fail(ClientGone()) }
        // A drain that runs out ends the relay like a client that leaves (the stream that
        // started after it ran out ends at once).
        let drainToken = drain.register { chunks.fail(DrainExpired()) }
        if drainToken == nil { chunks.fail(DrainExpired()) }

        let clock = WriteClock()
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
        let outcome = await withTaskGroup(of: Void.self) { group -> Outcome in
            group.addTask {
                do {
                    while let chunk = try await upstream.next() { await chunks.send(chunk) }
                    chunks.finish()
                } catch {
                    chunks.fail(UpstreamBroke())
                }
            }
            var outcome = Outcome.finished
            do {
                for try await chunk in chunks {
                    clock.started.store(NIODeadline.now().uptimeNanoseconds, ordering: .relaxed)
                    do {
                        try await deliver(chunk)
                    } catch {
                        outcome = clock.stalled.load(ordering: .relaxed) ? .clientStalled : .clientGone
                        break
                    }
                    clock.started.store(0, ordering: .relaxed)
                }
            } catch is ClientGone {
                // Also how a stalled client's close may surface (the write it was stuck in can
                // end without an error once the channel is gone).
                outcome = clock.stalled.load(ordering: .relaxed) ? .clientStalled : .clientGone
            } catch is DrainExpired {
                outcome = .drainExpired
            } catch {
                outcome = .upstreamFailed
            }
            group.cancelAll()
            return outcome
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
