import NIOCore

/// Recognises server-sent-event text made of comments only (`: keep-alive`, blank lines).
enum SSEComments {
    /// Whether every non-empty line of `events` is a comment (starts with `:`). Lines end with
    /// LF, CR or CRLF, as SSE allows.
    static func only(_ events: ByteBuffer) -> Bool {
        events.withUnsafeReadableBytes { bytes in
            var atLineStart = true
            for byte in bytes {
                if atLineStart, byte != 0x0A, byte != 0x0D, byte != UInt8(ascii: ":") { return false }
                atLineStart = byte == 0x0A || byte == 0x0D
            }
            return true
        }
    }
}
