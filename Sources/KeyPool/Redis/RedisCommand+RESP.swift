import NIOCore

extension RedisCommand {
    /// The command in RESP wire form: the `*N` header, then the arguments, already formatted as
    /// they were appended, in one copy.
    func resp(_ allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: wire.count + 24)
        buffer.writeInteger(UInt8(ascii: "*"))
        buffer.writeString(String(count))
        buffer.writeStaticString("\r\n")
        buffer.writeBytes(wire)
        return buffer
    }
}
