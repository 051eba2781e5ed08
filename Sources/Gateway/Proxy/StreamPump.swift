import AsyncAlgorithms
import Foundation
import HTTPTypes
import NIOCore

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
        /// The gateway is shutting down and the drain time ran out.
        case drainExpired
    }

    struct ClientGone: Error {}
    private struct UpstreamBroke: Error {}
    private struct DrainExpired: Error {}

    static func run(
        upstream: UpstreamChunks,
        channel: any Channel,
        drain: ShutdownDrain,
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
                    do {
                        try await deliver(chunk)
                    } catch {
                        outcome = .clientGone
                        break
                    }
                }
            } catch is ClientGone {
                outcome = .clientGone
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
