import KeyPool

/// A Messages API answer (`type: "message"`), the parts the translation reads.
struct AnthropicResponse: Decodable {
    var id: String
    var content: [AnthropicContentBlock]
    var stopReason: String?
    var usage: AnthropicUsage?

    private enum CodingKeys: String, CodingKey { case id, content, stopReason = "stop_reason", usage }

    /// The OpenAI `chat.completion` for this answer. Text blocks are joined; `tool_use` blocks
    /// become tool calls; thinking and server-tool blocks are not part of an OpenAI answer.
    func completion(model: String, created: Int) -> OpenAIChatCompletion {
        var texts: [String] = []
        var toolCalls: [OpenAIToolCall] = []
        for block in content {
            switch block.type {
            case "text": texts.append(block.text ?? "")
            case "tool_use":
                toolCalls.append(.whole(
                    id: block.id ?? "", name: block.name ?? "", arguments: (block.input ?? .object([:])).compactJSON))
            default: break
            }
        }
        let text: String? = !texts.isEmpty ? texts.joined() : (toolCalls.isEmpty ? "" : nil)
        let message = OpenAIChatCompletion.Message(content: text, toolCalls: toolCalls.isEmpty ? nil : toolCalls)
        return OpenAIChatCompletion(
            id: "chatcmpl-\(id)", created: created, model: model,
            choices: [.init(index: 0, message: message, finishReason: Self.finishReason(stopReason))],
            usage: usage.map { OpenAIUsage($0.tokenUsage, cachedTokens: $0.cacheReadInputTokens) })
    }

    /// Anthropic's `stop_reason` as OpenAI's `finish_reason`.
    static func finishReason(_ stopReason: String?) -> String {
        switch stopReason {
        case "max_tokens", "model_context_window_exceeded": "length"
        case "tool_use": "tool_calls"
        case "refusal": "content_filter"
        // end_turn, stop_sequence, pause_turn.
        default: "stop"
        }
    }
}

/// A content block of an answer, or the `content_block` of a `content_block_start` event.
struct AnthropicContentBlock: Decodable {
    var type: String
    var text: String?
    var id: String?
    var name: String?
    var input: JSONValue?
}

/// Anthropic's `usage`. Cached input is billed input, so it counts as prompt tokens.
struct AnthropicUsage: Decodable {
    var inputTokens: Int?
    var outputTokens: Int?
    var cacheCreationInputTokens: Int?
    var cacheReadInputTokens: Int?

    private enum CodingKeys: String, CodingKey {
        case inputTokens = "input_tokens", outputTokens = "output_tokens"
        case cacheCreationInputTokens = "cache_creation_input_tokens", cacheReadInputTokens = "cache_read_input_tokens"
    }

    var promptTokens: Int {
        // Upstream numbers: summed within bounds, never with a trapping `+`.
        TokenCount.sum(TokenCount.sum(inputTokens ?? 0, cacheCreationInputTokens ?? 0), cacheReadInputTokens ?? 0)
    }

    var tokenUsage: TokenUsage {
        TokenUsage(promptTokens: promptTokens, completionTokens: outputTokens ?? 0)
    }
}

/// `{"type":"error","error":{"type":...,"message":...}}`, as an answer body or a stream event.
struct AnthropicErrorBody: Decodable {
    struct Detail: Decodable {
        var type: String?
        var message: String?
    }

    var error: Detail
}
