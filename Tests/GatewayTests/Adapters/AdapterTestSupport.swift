import Foundation
import HTTPTypes
import NIOCore
import Testing

@testable import Gateway

/// Golden-test helpers shared by the adapter tests.
enum AdapterTestSupport {
    /// `json` re-encoded with sorted keys: two documents are the same JSON exactly when their
    /// canonical forms are equal (and a failure shows both readable).
    static func canonical(_ json: String) -> String {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)) else {
            return "<not JSON: \(json)>"
        }
        return value.compactJSON
    }

    static func canonical(_ buffer: ByteBuffer) -> String {
        canonical(String(buffer: buffer))
    }

    /// The OpenAI SSE bytes for these chunks (each canonicalized), then `[DONE]` if asked.
    static func sse(_ chunks: [String], done: Bool = true) -> String {
        chunks.map { "data: \(canonical($0))\n\n" }.joined() + (done ? "data: [DONE]\n\n" : "")
    }

    static func summary(_ body: String) throws -> ChatRequestSummary {
        try ChatRequestSummary.parse(ByteBuffer(string: body))
    }

    /// The upstream request for `body`, or the error it is refused with.
    static func translate(
        _ adapter: some ProviderAdapter, _ body: String, model: String = "upstream-model", defaultMaxTokens: Int = 4096
    ) throws -> UpstreamRequest {
        try adapter.request(
            ByteBuffer(string: body), summary: summary(body), upstreamModel: model, defaultMaxTokens: defaultMaxTokens)
    }

    static func refusal(_ adapter: some ProviderAdapter, _ body: String) -> GatewayError? {
        do {
            _ = try translate(adapter, body)
            return nil
        } catch let error as GatewayError {
            return error
        } catch {
            return nil
        }
    }

    /// A conversation with empty texts among others, for `model`: empty system and user texts,
    /// and an empty text part beside a non-empty one. Neither provider takes empty text.
    static func emptyTextsConversation(model: String) -> String {
        #"{"model":""# + model + #"","messages":["#
            + #"{"role":"system","content":""},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},"#
            + #"{"role":"user","content":""},{"role":"assistant","content":"Still here?"},"#
            + #"{"role":"user","content":[{"type":"text","text":""},{"type":"text","text":"Yes"}]}]}"#
    }

    /// Conversations whose first user message is all empty text: neither provider takes empty
    /// text, and leaving the message out would leave no first user turn (`param` names it).
    static let emptyFirstUserMessages = [
        (#"[{"role":"user","content":""}]"#, "messages[0].content"),
        (#"[{"role":"system","content":"S"},{"role":"user","content":[{"type":"text","text":""}]},{"role":"assistant","content":"A"}]"#,
         "messages[1].content"),
    ]

    /// Such a conversation is refused with 400 `invalid_value` naming the empty message.
    static func expectEmptyFirstUserRefused(_ adapter: some ProviderAdapter, model: String, messages: String, param: String) {
        let error = refusal(adapter, #"{"model":""# + model + #"","messages":"# + messages + "}")
        #expect(error?.status == .badRequest)
        #expect(error?.code == "invalid_value")
        #expect(error?.param == param)
    }

    /// Feeds `stream` in pieces of `size` bytes, then finishes.
    static func run(_ translator: inout any ChatStreamTranslator, _ stream: String, size: Int) throws -> String {
        var out = ""
        let bytes = Array(stream.utf8)
        var index = 0
        while index < bytes.count {
            out += String(buffer: try translator.feed(ByteBuffer(bytes: bytes[index..<min(index + size, bytes.count)])))
            index += size
        }
        out += String(buffer: translator.finish())
        return out
    }
}
