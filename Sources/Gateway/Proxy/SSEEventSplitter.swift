import NIOCore

/// Cuts a server-sent-events byte stream into whole events (each with its blank line), however
/// the upstream's writes split them. Accepts `\n\n` and `\r\n\r\n` endings.
struct SSEEventSplitter {
    private var pending = ByteBuffer()

    /// The whole events completed by `chunk`; a partial event waits for the next chunk.
    mutating func feed(_ chunk: ByteBuffer, _ body: (ByteBuffer) -> Void) {
        if pending.readableBytes == 0 {
            pending = chunk
        } else {
            var chunk = chunk
            pending.writeBuffer(&chunk)
        }
        while let end = Self.eventEnd(in: pending) {
            guard let event = pending.readSlice(length: end) else { break }
            body(event)
        }
        if pending.readableBytes == 0 {
            // Not `clear()`: the events just cut still share the buffer, so clearing it would
            // allocate a new one, and the next chunk replaces it anyway.
            pending = ByteBuffer()
        } else if pending.readerIndex > 4096 {
            pending.discardReadBytes()
        }
    }

    /// Bytes left over after the last whole event (an upstream that ended mid-event).
    var remainder: ByteBuffer? { pending.readableBytes > 0 ? pending : nil }

    /// Length of the first whole event, its terminating blank line included.
    private static func eventEnd(in buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { bytes -> Int? in
            var index = 0
            while index < bytes.count {
                guard let newline = bytes[index...].firstIndex(of: 0x0A) else { return nil }
                let next = newline + 1
                if next < bytes.count, bytes[next] == 0x0A { return next + 1 }
                if next + 1 < bytes.count, bytes[next] == 0x0D, bytes[next + 1] == 0x0A { return next + 2 }
                index = next
            }
            return nil
        }
    }
}
