import HTTPTypes
import NIOCore

/// Turns a Messages API event stream into OpenAI chunks.
///
/// - `message_start`: the stream's id (`chatcmpl-<message id>`), input tokens, the role chunk;
/// - `content_block_start` of a `tool_use` block: a tool call delta with id, type, name and
///   empty arguments; `input_json_delta`s add to its arguments. Tool calls are numbered from 0
///   in the order their blocks start;
/// - `text_delta`: `delta.content`;
/// - `message_delta`: the finish chunk (stop reason mapped) and the output tokens;
/// - `content_block_stop` of a tool_use block that had no input (a function without parameters):
///   its arguments `{}`, as the non-streamed answer has them, rather than an empty string;
/// - `ping`, other `content_block_stop`s, `message_stop`, thinking deltas and event types
///   Anthropic may add later: nothing;
/// - `error`: throws (502, `upstream_error`, code = Anthropic's error type).
struct AnthropicStreamTranslator: SSEStreamTranslator {
    private var writer: OpenAIChunkWriter
    var splitter = SSEEventSplitter()
    private var started = false
    /// Anthropic content block index → OpenAI tool call index.
    private var toolCallIndexes: [Int: Int] = [:]
    /// Anthropic content block indexes of tool_use blocks that have had no input yet.
    private var toolBlocksWithoutInput: Set<Int> = []
    private var inputUsage: AnthropicUsage?
    private var outputTokens: Int?
    /// A `message_delta` (the stop reason) or `message_stop` arrived.
    private(set) var isComplete = false

    init(model: String, includeUsage: Bool, created: Int) {
        writer = OpenAIChunkWriter(id: "chatcmpl-anthropic", created: created, model: model, includeUsage: includeUsage)
    }

    var usage: TokenUsage? {
        guard inputUsage != nil || outputTokens != nil else { return nil }
        return TokenUsage(promptTokens: inputUsage?.promptTokens ?? 0, completionTokens: outputTokens ?? 0)
    }

    var dataEvents: Int { writer.dataEvents }

    mutating func finish() -> ByteBuffer {
        writer.end(usage: usage, cachedTokens: inputUsage?.cacheReadInputTokens)
    }

    mutating func handle(_ event: SSEEvent, to out: inout ByteBuffer) throws(GatewayError) {
        guard let data = event.data else { return }
        guard let payload = AdapterJSON.decode(Event.self, from: Array(data.utf8)) else {
            throw SSEEvent.malformed("anthropic")
        }
        switch payload.type {
        case "message_start":
            if let id = payload.message?.id { writer.id = "chatcmpl-\(id)" }
            inputUsage = payload.message?.usage
            if let output = payload.message?.usage?.outputTokens { outputTokens = output }
            try start(&out)
        case "content_block_start":
            try start(&out)
            guard let block = payload.contentBlock, block.type == "tool_use" else {
                // A text block may open with text of its own (it usually opens empty).
                if let text = payload.contentBlock?.text, !text.isEmpty, payload.contentBlock?.type == "text" {
                    try writer.content(text, index: 0, to: &out)
                }
                return
            }
            let index = toolCallIndexes.count
            toolCallIndexes[payload.index ?? -1] = index
            toolBlocksWithoutInput.insert(payload.index ?? -1)
            let call = OpenAIToolCall(
                index: index, id: block.id ?? "", type: "function", function: .init(name: block.name ?? "", arguments: ""))
            try writer.toolCall(call, index: 0, to: &out)
        case "content_block_delta":
            try start(&out)
            switch payload.delta?.type {
            case "text_delta":
                if let text = payload.delta?.text, !text.isEmpty { try writer.content(text, index: 0, to: &out) }
            case "input_json_delta":
                guard let partial = payload.delta?.partialJSON, !partial.isEmpty,
                    let index = toolCallIndexes[payload.index ?? -1]
                else { return }
                toolBlocksWithoutInput.remove(payload.index ?? -1)
                try writer.toolCall(OpenAIToolCall(index: index, function: .init(arguments: partial)), index: 0, to: &out)
            default:
                // thinking_delta, signature_delta, citations_delta: no OpenAI equivalent.
                return
            }
        case "message_delta":
            try start(&out)
            if let output = payload.usage?.outputTokens { outputTokens = output }
            // Newer API versions repeat the (cumulative) input counts here.
            if let usage = payload.usage, usage.inputTokens != nil { inputUsage = usage }
            try writer.finish(AnthropicResponse.finishReason(payload.delta?.stopReason), index: 0, to: &out)
            isComplete = true
        case "content_block_stop":
            guard let block = payload.index, toolBlocksWithoutInput.remove(block) != nil, let index = toolCallIndexes[block] else { return }
            try writer.toolCall(OpenAIToolCall(index: index, function: .init(arguments: "{}")), index: 0, to: &out)
        case "message_stop":
            isComplete = true
        case "error":
            throw GatewayError(
                .badGateway, UpstreamErrorText.scrub(payload.error?.message ?? "The upstream provider 'anthropic' failed."),
                type: "upstream_error", code: payload.error?.type ?? "upstream_error")
        default:
            // ping, and any event type added later.
            return
        }
    }

    /// The role chunk, once, before anything else.
    private mutating func start(_ out: inout ByteBuffer) throws(GatewayError) {
        guard !started else { return }
        started = true
        try writer.role(index: 0, to: &out)
    }

    /// The fields of every event type the translation reads.
    private struct Event: Decodable {
        struct Message: Decodable {
            var id: String?
            var usage: AnthropicUsage?
        }

        struct Delta: Decodable {
            var type: String?
            var text: String?
            var partialJSON: String?
            var stopReason: String?

            private enum CodingKeys: String, CodingKey { case type, text, partialJSON = "partial_json", stopReason = "stop_reason" }
        }

        var type: String
        var message: Message?
        var index: Int?
        var contentBlock: AnthropicContentBlock?
        var delta: Delta?
        var usage: AnthropicUsage?
        var error: AnthropicErrorBody.Detail?

        private enum CodingKeys: String, CodingKey {
            case type, message, index, contentBlock = "content_block", delta, usage, error
        }
    }
}
