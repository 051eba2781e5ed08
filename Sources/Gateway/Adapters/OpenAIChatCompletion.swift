/// The OpenAI `chat.completion` body the adapters answer with.
struct OpenAIChatCompletion: Encodable {
    struct Message: Encodable {
        var content: String?
        var toolCalls: [OpenAIToolCall]?

        private enum CodingKeys: String, CodingKey { case role, content, toolCalls = "tool_calls" }

        // `content` is null (not absent) when the answer is only tool calls, as OpenAI sends it.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode("assistant", forKey: .role)
            try container.encode(content, forKey: .content)
            try container.encodeIfPresent(toolCalls, forKey: .toolCalls)
        }
    }

    struct Choice: Encodable {
        var index: Int
        var message: Message
        var finishReason: String

        private enum CodingKeys: String, CodingKey { case index, message, finishReason = "finish_reason" }
    }

    var id: String
    var object = "chat.completion"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: OpenAIUsage?
}

/// One tool call: whole in a `chat.completion`, a piece of one in a chunk's delta (the first
/// piece has id, type and name; the others only `index` and more `arguments`).
struct OpenAIToolCall: Encodable {
    struct Function: Encodable {
        var name: String?
        var arguments: String
    }

    var index: Int?
    var id: String?
    var type: String?
    var function: Function

    static func whole(id: String, name: String, arguments: String) -> OpenAIToolCall {
        OpenAIToolCall(id: id, type: "function", function: .init(name: name, arguments: arguments))
    }
}

/// OpenAI's `usage`; `prompt_tokens_details.cached_tokens` only when the provider reported
/// cached input.
struct OpenAIUsage: Encodable {
    struct PromptDetails: Encodable {
        var cachedTokens: Int
        private enum CodingKeys: String, CodingKey { case cachedTokens = "cached_tokens" }
    }

    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int
    var promptTokensDetails: PromptDetails?

    init(_ usage: TokenUsage, cachedTokens: Int? = nil) {
        promptTokens = usage.promptTokens
        completionTokens = usage.completionTokens
        totalTokens = usage.totalTokens
        promptTokensDetails = cachedTokens.map { PromptDetails(cachedTokens: $0) }
    }

    private enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
        case promptTokensDetails = "prompt_tokens_details"
    }
}

/// One OpenAI `chat.completion.chunk`.
struct OpenAIChatChunk: Encodable {
    struct Delta: Encodable {
        var role: String?
        var content: String?
        var toolCalls: [OpenAIToolCall]?
        private enum CodingKeys: String, CodingKey { case role, content, toolCalls = "tool_calls" }
    }

    struct Choice: Encodable {
        var index: Int
        var delta: Delta
        var finishReason: String?

        private enum CodingKeys: String, CodingKey { case index, delta, finishReason = "finish_reason" }

        // `finish_reason` is null until the last chunk, as in OpenAI's streams.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(delta, forKey: .delta)
            try container.encode(finishReason, forKey: .finishReason)
        }
    }

    var id: String
    var object = "chat.completion.chunk"
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: OpenAIUsage?
}
