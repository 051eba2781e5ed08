import NIOCore

/// Server-sent event framing for the three dialects.
enum SSE {
    /// `data: {json}` followed by a blank line (OpenAI, and Gemini's `alt=sse`).
    static func data(_ json: JSONValue, lineEnd: String = "\n") -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(JSON.data(json))
        buffer.writeString(lineEnd + lineEnd)
        return buffer
    }

    /// `event: name` then `data: {json}` (Anthropic names every event).
    static func event(_ name: String, _ json: JSONValue) -> ByteBuffer {
        var buffer = ByteBuffer(string: "event: \(name)\ndata: ")
        buffer.writeBytes(JSON.data(json))
        buffer.writeString("\n\n")
        return buffer
    }

    static let done = ByteBuffer(string: "data: [DONE]\n\n")
}
