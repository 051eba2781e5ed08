import HTTPTypes
import NIOCore

/// One whole server-sent event (as `SSEEventSplitter` cuts them): its `event:` name and its
/// `data:` lines joined with "\n". Comment lines (`: keep-alive`) and other fields are skipped.
struct SSEEvent {
    var name: String?
    var data: String?

    init(_ event: ByteBuffer) {
        let text = String(buffer: event)
        var dataLines: [Substring] = []
        // Split on the scalar "\n": "\r\n" is one Character in Swift, and a JSON string may hold a
        // raw U+2028, which Character.isNewline would take for a line break.
        for scalars in text.unicodeScalars.split(separator: "\n") {
            var line = Substring(scalars)
            if line.unicodeScalars.last == "\r" { line = Substring(line.unicodeScalars.dropLast()) }
            if line.hasPrefix("data:") {
                dataLines.append(Self.value(line.dropFirst(5)))
            } else if line.hasPrefix("event:") {
                name = String(Self.value(line.dropFirst(6)))
            }
        }
        data = dataLines.isEmpty ? nil : dataLines.joined(separator: "\n")
    }

    /// A field's value: one leading space is not part of it.
    private static func value(_ rest: Substring) -> Substring {
        rest.hasPrefix(" ") ? rest.dropFirst() : rest
    }

    /// The error for a stream that is not in the provider's format.
    static func malformed(_ provider: String) -> GatewayError {
        GatewayError(
            .badGateway, "The upstream provider '\(provider)' sent a stream the gateway could not read.",
            type: "upstream_error", code: "upstream_invalid_stream")
    }
}

/// A provider stream in server-sent events: whole events are cut out of the bytes as they
/// arrive and each is translated by `handle`.
protocol SSEStreamTranslator: ChatStreamTranslator {
    var splitter: SSEEventSplitter { get set }
    /// Appends the OpenAI chunks for one upstream event to `out`.
    mutating func handle(_ event: SSEEvent, to out: inout ByteBuffer) throws(GatewayError)
}

extension SSEStreamTranslator {
    mutating func feed(_ chunk: ByteBuffer) throws(GatewayError) -> ByteBuffer {
        var events: [ByteBuffer] = []
        splitter.feed(chunk) { events.append($0) }
        var out = ByteBuffer()
        for event in events {
            try handle(SSEEvent(event), to: &out)
        }
        return out
    }
}
