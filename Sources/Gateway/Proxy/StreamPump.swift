import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore

/// Moves an upstream body to the client while watching the client's side of the connection.
///
/// The upstream is read in a child task and handed over through a stream, so that a client that
/// leaves ends the relay at once (its `inputClosed` finishes the stream) even while the upstream
/// is silent; leaving the group then cancels the child, and AsyncHTTPClient cancels the upstream
/// request. Without this, a gateway would keep generating (and paying for) tokens nobody reads.
enum StreamPump {
    enum Outcome: Sendable, Equatable {
        case finished
        /// The upstream broke the stream (reset, read timeout, truncated body).
        case upstreamFailed
        /// The client left, or a write to it failed.
        case clientGone
    }

    struct ClientGone: Error {}
    private struct UpstreamBroke: Error {}

    static func run(
        upstream: UpstreamChunks,
        channel: any Channel,
        deliver: (ByteBuffer) async throws -> Void
    ) async -> Outcome {
        let observer = InboundCloseObserver()
        let watching = (try? await channel.pipeline.addHandler(observer, position: .first).get()) != nil
        let (chunks, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        observer.onClose { continuation.finish(throwing: ClientGone()) }

        let outcome = await withTaskGroup(of: Void.self) { group -> Outcome in
            group.addTask {
                do {
                    while let chunk = try await upstream.next() { continuation.yield(chunk) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: UpstreamBroke())
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
            } catch {
                outcome = .upstreamFailed
            }
            group.cancelAll()
            return outcome
        }
        observer.cancel()
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

    /// The event that ends a broken stream: the openai SDKs raise an `APIError` for a chunk
    /// carrying `error`, so the client never mistakes a cut answer for a complete one.
    static func errorEvent(provider: String) -> ByteBuffer {
        errorEvent(GatewayError(
            .badGateway, "The upstream provider '\(provider)' broke the stream before it finished.",
            type: "upstream_error", code: "stream_interrupted"))
    }
}
