import NIOCore

/// An upstream body being read, handed from the request handler, which reads a stream's first
/// event before committing to an answer (so a failure there can still go to another key), to the
/// response body that relays the rest.
///
/// `@unchecked Sendable`: the iterator is used by one task at a time, never concurrently: the
/// handler until it returns the `Response`, then only `StreamPump`'s reading task.
final class UpstreamChunks: @unchecked Sendable {
    private var iterator: UpstreamBody.AsyncIterator

    init(_ body: UpstreamBody) {
        iterator = body.makeAsyncIterator()
    }

    /// The next chunk; nil at the end of the body.
    func next() async throws -> ByteBuffer? {
        try await iterator.next()
    }
}
