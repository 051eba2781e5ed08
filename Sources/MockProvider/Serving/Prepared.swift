import NIOCore

/// A successful answer rendered in a dialect, before faults decide how it is delivered.
struct Prepared: Sendable {
    var promptTokens = 0
    var completionTokens = 0
    /// Whole JSON body, for non-streaming answers.
    var body = ByteBuffer()
    /// SSE events in order, for streaming answers; nil when the answer is one JSON body.
    var events: [ByteBuffer]?

    var isStream: Bool { events != nil }

    static func json(_ value: JSONValue, promptTokens: Int = 0, completionTokens: Int = 0) -> Prepared {
        Prepared(promptTokens: promptTokens, completionTokens: completionTokens, body: JSON.buffer(value))
    }

    static func stream(_ events: [ByteBuffer], promptTokens: Int, completionTokens: Int) -> Prepared {
        Prepared(promptTokens: promptTokens, completionTokens: completionTokens, events: events)
    }
}
