import NIOCore
import NIOHTTP1

/// An upstream answer: its head, and its body to be read as it arrives (or collected whole).
struct UpstreamResponse: Sendable {
    let status: HTTPResponseStatus
    let headers: HTTPHeaders
    let body: UpstreamBody
}

/// The body of an upstream answer, read once. Reading it to the end hands the connection back
/// to the pool; dropping it earlier (or cancelling the reading task) closes the connection, so
/// the provider stops generating.
struct UpstreamBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    typealias Producer = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, UpstreamConnection.Demand
    >

    let producer: Producer
    /// The connection's side of the reading, to stop the answer from outside the reading task.
    let demand: UpstreamConnection.Demand

    func makeAsyncIterator() -> Producer.AsyncIterator {
        producer.makeAsyncIterator()
    }

    /// The whole body; throws `tooLarge` past `limit` bytes.
    func collect(upTo limit: Int) async throws -> ByteBuffer {
        var all = ByteBuffer()
        for try await var chunk in self {
            guard all.readableBytes + chunk.readableBytes <= limit else {
                throw UpstreamClientError(.tooLarge, "over \(limit) bytes")
            }
            if all.readableBytes == 0 { all = chunk } else { all.writeBuffer(&chunk) }
        }
        return all
    }
}
