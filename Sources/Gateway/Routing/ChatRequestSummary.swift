import Foundation
import NIOCore

/// What routing needs from a chat completion request, and no more: the body itself is forwarded
/// as it came (see `BodyRewriter`). Decoding also validates the fields the gateway relies on, so
/// a malformed request gets a 400 naming the field instead of an upstream's error.
struct ChatRequestSummary: Decodable, Sendable {
    var model: String
    var stream: Bool
    /// `stream_options.include_usage` as the client sent it.
    var includeUsage: Bool
    /// `max_completion_tokens`, else `max_tokens`.
    var maxTokens: Int?
    /// The member `maxTokens` came from, for errors about it (`max_tokens` when neither came).
    var maxTokensParam = "max_tokens"
    /// Where each top-level member sits in the body: scanned once by `parse` (for duplicates)
    /// and used again by `BodyRewriter`, so the body is not scanned twice.
    var fields: TopLevelFields?

    private enum Keys: String, CodingKey {
        case model, messages, stream, maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens"
        case streamOptions = "stream_options"
    }

    private enum StreamOptionKeys: String, CodingKey { case includeUsage = "include_usage" }

    init(from decoder: any Decoder) throws {
        let container: KeyedDecodingContainer<Keys>
        do {
            container = try decoder.container(keyedBy: Keys.self)
        } catch {
            throw GatewayError.invalidRequest("The request body must be a JSON object.")
        }
        guard container.contains(.model), (try? container.decodeNil(forKey: .model)) == false else {
            throw GatewayError.invalidRequest("You must provide a model parameter.", param: "model", code: "missing_required_parameter")
        }
        guard let model = try? container.decode(String.self, forKey: .model), !model.isEmpty else {
            throw GatewayError.invalidRequest("'model' must be a non-empty string.", param: "model", code: "invalid_type")
        }
        self.model = model
        guard container.contains(.messages) else {
            throw GatewayError.invalidRequest("You must provide a messages parameter.", param: "messages", code: "missing_required_parameter")
        }
        guard let messages = try? container.decode([MessageShape].self, forKey: .messages) else {
            throw GatewayError.invalidRequest("'messages' must be an array of message objects.", param: "messages", code: "invalid_type")
        }
        guard !messages.isEmpty else {
            throw GatewayError.invalidRequest("'messages' must contain at least one message.", param: "messages", code: "empty_array")
        }
        stream = try Self.optional(Bool.self, container, .stream, "a boolean") ?? false
        let completion = try Self.optional(Int.self, container, .maxCompletionTokens, "an integer")
        let legacy = try Self.optional(Int.self, container, .maxTokens, "an integer")
        maxTokens = completion ?? legacy
        if completion != nil { maxTokensParam = Keys.maxCompletionTokens.rawValue }
        if let maxTokens, maxTokens < 1 {
            throw GatewayError.invalidRequest(
                "'\(maxTokensParam)' must be at least 1.", param: maxTokensParam, code: "invalid_value")
        }
        includeUsage = false
        if container.contains(.streamOptions), (try? container.decodeNil(forKey: .streamOptions)) == false {
            guard let options = try? container.nestedContainer(keyedBy: StreamOptionKeys.self, forKey: .streamOptions) else {
                throw GatewayError.invalidRequest("'stream_options' must be an object.", param: "stream_options", code: "invalid_type")
            }
            if options.contains(.includeUsage), (try? options.decodeNil(forKey: .includeUsage)) == false {
                guard let value = try? options.decode(Bool.self, forKey: .includeUsage) else {
                    throw GatewayError.invalidRequest(
                        "'stream_options.include_usage' must be a boolean.", param: "stream_options.include_usage", code: "invalid_type")
                }
                includeUsage = value
            }
        }
    }

    /// A field that may be absent or null, else must have type `T`.
    private static func optional<T: Decodable>(
        _ type: T.Type, _ container: KeyedDecodingContainer<Keys>, _ key: Keys, _ what: String
    ) throws -> T? {
        guard container.contains(key), (try? container.decodeNil(forKey: key)) == false else { return nil }
        guard let value = try? container.decode(T.self, forKey: key) else {
            throw GatewayError.invalidRequest("'\(key.rawValue)' must be \(what).", param: key.rawValue, code: "invalid_type")
        }
        return value
    }

    /// Each message must be an object; its content is the upstream's business.
    private struct MessageShape: Decodable {
        init(from decoder: any Decoder) throws {
            _ = try decoder.container(keyedBy: Keys.self)
        }
    }

    /// Parses `body`; every problem is a 400 in OpenAI's shape.
    static func parse(_ body: ByteBuffer) throws(GatewayError) -> ChatRequestSummary {
        var summary: ChatRequestSummary
        do {
            summary = try body.withUnsafeReadableBytes { bytes in
                // Strict RFC 8259 first: JSONDecoder alone would pass bodies the providers refuse
                // (see `StrictJSON`), and a byte-order mark or UTF-16 and UTF-32, which the byte
                // scanner below (and the duplicate check and body rewrite resting on it) cannot read.
                if let failure = StrictJSON.failure(in: bytes) {
                    if StrictJSON.isOtherEncoding(bytes) {
                        throw GatewayError.invalidRequest(
                            "The request body must be JSON encoded as UTF-8, without a byte order mark.", code: "invalid_json")
                    }
                    if failure.isTooDeep {
                        throw GatewayError.invalidRequest(
                            "The JSON body of your request is nested more than \(StrictJSON.maxDepth) levels deep "
                                + "(at offset \(failure.offset)).", code: "invalid_json")
                    }
                    throw GatewayError.invalidRequest(
                        "We could not parse the JSON body of your request. The body must be valid JSON (RFC 8259); "
                            + "the first invalid byte is at offset \(failure.offset).", code: "invalid_json")
                }
                return try JSONDecoder().decode(ChatRequestSummary.self, from: Data(bytes))
            }
        } catch let error as GatewayError {
            throw error
        } catch {
            throw GatewayError.invalidRequest(
                "We could not parse the JSON body of your request. The body must be valid JSON.", code: "invalid_json")
        }
        // Parsers disagree on duplicate members (JSONDecoder keeps the first, Python and Go the
        // last), so a body with two `model` members could pass routing as one model and be
        // served as another. Refusing every duplicate top-level member closes that for every
        // field the gateway reads.
        guard let fields = TopLevelFields(body) else {
            // Not reached: the body is strictly valid JSON, and JSONDecoder found an object.
            throw GatewayError.invalidRequest("The request body must be a JSON object.")
        }
        summary.fields = fields
        try refuseDuplicates(fields)
        // The same rule inside the one nested object the gateway reads and rewrites: JSONDecoder
        // read the first of two `include_usage` members, an upstream reads the last, so the
        // gateway kept the usage chunk from a client that (as the upstream read it) asked for
        // none, or stripped it from one that asked.
        if let options = fields.field("stream_options"),
            let members = body.withUnsafeReadableBytes({ TopLevelFields(bytes: UnsafeRawBufferPointer(rebasing: $0[options.value])) })
        {
            try refuseDuplicates(members, in: "stream_options.")
        }
        return summary
    }

    /// A 400 `duplicate_parameter` naming the first member of `object` that appears twice;
    /// `path` is where the object sits (`stream_options.`), empty for the body itself.
    private static func refuseDuplicates(_ object: TopLevelFields, in path: String = "") throws(GatewayError) {
        var seen = Set<String>()
        for field in object.fields where !seen.insert(field.name).inserted {
            let name = path + field.name
            throw GatewayError.invalidRequest(
                "The request body has more than one '\(name)' member.", param: name, code: "duplicate_parameter")
        }
    }
}
