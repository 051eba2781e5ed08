import NIOCore

/// An upstream body being read, handed from the request handler, which reads a stream's first
/// event before committing to an answer (so a failure there can still go to another key), to the
/// response body that relays the rest.
///
/// `@unchecked Sendable`: the iterator is used by one task at a time, never concurrently: the
/// handler until it returns the `Response`, then only the response body's task (`StreamPump`).
/// `abort` may come from any thread, and touches only the `Sendable` demand.
final class UpstreamChunks: @unchecked Sendable {
    private var iterator: UpstreamBody.AsyncIterator
    private let demand: UpstreamConnection.Demand

    init(_ body: UpstreamBody) {
        iterator = body.makeAsyncIterator()
        demand = body.demand
    }

    /// Stops the upstream answer (the provider stops generating): a `next` waiting for a chunk,
    /// or the one after the chunks already received, throws. Nothing if the answer already ended.
    func abort() {
        demand.abandon()
    }

    /// The next chunk; nil at the end of the body.
    func next() async throws -> ByteBuffer? {
        try await iterator.next()
    }
}
