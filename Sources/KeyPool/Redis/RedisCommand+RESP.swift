import NIOCore

extension RedisCommand {
    /// The command in RESP wire form (`*N`, then `$len` and the bytes of each argument), written
    /// straight into the buffer the event loop sends: no intermediate C string, no printf.
    func resp(_ allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: bytes.count + lengths.count * 14 + 16)
        buffer.writeInteger(UInt8(ascii: "*"))
        buffer.writeString(String(lengths.count))
        buffer.writeStaticString("\r\n")
        bytes.withUnsafeBytes { all in
            var offset = 0
            for length in lengths {
                buffer.writeInteger(UInt8(ascii: "$"))
                buffer.writeString(String(length))
                buffer.writeStaticString("\r\n")
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: all[offset..<offset + length]))
                buffer.writeStaticString("\r\n")
                offset += length
            }
        }
        return buffer
    }
}
