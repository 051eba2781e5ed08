import Foundation
import NIOCore

/// Edits a chat request body for the upstream without re-encoding it: the model value is
/// replaced when the upstream knows the model by another name, and streaming requests ask for
/// the usage chunk (which the gateway settles from). Every other byte is copied as it came, so
/// tools, response_format and fields the gateway has never heard of pass through untouched.
enum BodyRewriter {
    static let includeUsage = #"{"include_usage":true}"#

    /// The body to send upstream; `body` itself when nothing changes (the common case).
    static func rewrite(_ body: ByteBuffer, summary: ChatRequestSummary, upstreamModel: String) -> ByteBuffer {
        let renameModel = upstreamModel != summary.model
        let askUsage = summary.stream && !summary.includeUsage
        guard renameModel || askUsage else { return body }
        guard let fields = summary.fields else { return body }

        // Replacements sorted by position: (range to replace, new bytes).
        var edits: [(Range<Int>, String)] = []
        if renameModel, let model = fields.field("model") {
            edits.append((model.value, jsonString(upstreamModel)))
        }
        if askUsage {
            if let options = fields.field("stream_options") {
                edits.append((options.value, streamOptions(body, options.value)))
            } else {
                edits.append((fields.closingBrace..<fields.closingBrace, #","stream_options":"# + includeUsage))
            }
        }
        edits.sort { $0.0.lowerBound < $1.0.lowerBound }

        var out = ByteBuffer()
        out.reserveCapacity(body.readableBytes + 64)
        var position = 0
        let base = body.readerIndex
        for (range, replacement) in edits {
            if range.lowerBound > position, let slice = body.getSlice(at: base + position, length: range.lowerBound - position) {
                out.writeImmutableBuffer(slice)
            }
            out.writeString(replacement)
            position = range.upperBound
        }
        if let rest = body.getSlice(at: base + position, length: body.readableBytes - position) {
            out.writeImmutableBuffer(rest)
        }
        return out
    }

    /// The client's stream_options with include_usage set; other options are kept.
    private static func streamOptions(_ body: ByteBuffer, _ range: Range<Int>) -> String {
        guard
            let bytes = body.getBytes(at: body.readerIndex + range.lowerBound, length: range.count),
            var object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
        else { return includeUsage }
        object["include_usage"] = true
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return includeUsage }
        return String(decoding: data, as: UTF8.self)
    }

    static func jsonString(_ value: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let data = (try? encoder.encode(value)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
