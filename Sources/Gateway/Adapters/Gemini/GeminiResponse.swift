import KeyPool

/// A `GenerateContentResponse`: a whole answer, or one event of an `alt=sse` stream.
struct GeminiResponse: Decodable {
    struct Candidate: Decodable {
        var content: Content?
        var finishReason: String?
        var index: Int?
    }

    struct Content: Decodable {
        var parts: [Part]?
    }

    struct Part: Decodable {
        var text: String?
        /// Thinking models' thought summaries: not part of the answer.
        var thought: Bool?
        var functionCall: FunctionCall?
    }

    struct FunctionCall: Decodable {
        var name: String
        var args: JSONValue?
    }

    struct PromptFeedback: Decodable {
        var blockReason: String?
    }

    struct UsageMetadata: Decodable {
        var promptTokenCount: Int?
        var candidatesTokenCount: Int?
        var thoughtsTokenCount: Int?
        var totalTokenCount: Int?
        var cachedContentTokenCount: Int?

        /// Thinking tokens are billed as output, so they count as completion tokens (Gemini's
        /// total already includes them).
        var tokenUsage: TokenUsage {
            let prompt = promptTokenCount ?? 0
            let completion = TokenCount.sum(candidatesTokenCount ?? 0, thoughtsTokenCount ?? 0)
            return TokenUsage(promptTokens: prompt, completionTokens: completion, totalTokens: totalTokenCount)
        }
    }

    var candidates: [Candidate]?
    var promptFeedback: PromptFeedback?
    var usageMetadata: UsageMetadata?
    var responseId: String?
    /// An error sent inside a stream.
    var error: GeminiErrorBody.Detail?

    /// The OpenAI `chat.completion` for this answer: one choice per candidate; a prompt Gemini
    /// blocked (no candidates, `promptFeedback.blockReason`) is one `content_filter` choice.
    func completion(model: String, created: Int) -> OpenAIChatCompletion {
        var choices: [OpenAIChatCompletion.Choice] = []
        for (position, candidate) in (candidates ?? []).enumerated() {
            let parts = (candidate.content?.parts ?? []).filter { $0.thought != true }
            let texts = parts.compactMap(\.text)
            let calls = parts.compactMap(\.functionCall)
            let toolCalls = calls.enumerated().map { index, call in
                OpenAIToolCall.whole(
                    id: Self.toolCallID(index: index, name: call.name), name: call.name, arguments: Self.arguments(call))
            }
            let finish = Self.finishReason(candidate.finishReason, hasToolCalls: !toolCalls.isEmpty)
            let content: String? = !texts.isEmpty ? texts.joined() : (toolCalls.isEmpty && finish != "content_filter" ? "" : nil)
            choices.append(.init(
                index: candidate.index ?? position,
                message: .init(content: content, toolCalls: toolCalls.isEmpty ? nil : toolCalls), finishReason: finish))
        }
        if choices.isEmpty {
            choices.append(.init(index: 0, message: .init(content: nil), finishReason: "content_filter"))
        }
        return OpenAIChatCompletion(
            id: "chatcmpl-\(responseId ?? "gemini-\(created)")", created: created, model: model, choices: choices,
            usage: usageMetadata.map { OpenAIUsage($0.tokenUsage, cachedTokens: $0.cachedContentTokenCount) })
    }

    /// Gemini gives function calls no id; OpenAI clients need one to answer them with.
    /// Deterministic, so the same answer always carries the same ids.
    static func toolCallID(index: Int, name: String) -> String {
        "call_\(index)_\(name)"
    }

    static func arguments(_ call: FunctionCall) -> String {
        (call.args ?? .object([:])).compactJSON
    }

    /// Gemini's `finishReason` as OpenAI's `finish_reason`. Gemini ends a function call turn
    /// with STOP; OpenAI clients look for `tool_calls`.
    static func finishReason(_ reason: String?, hasToolCalls: Bool) -> String {
        switch reason {
        case "MAX_TOKENS": "length"
        case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY": "content_filter"
        default: hasToolCalls ? "tool_calls" : "stop"
        }
    }
}

/// `{"error":{"code":400,"message":"...","status":"INVALID_ARGUMENT"}}`.
struct GeminiErrorBody: Decodable {
    struct Detail: Decodable {
        var code: Int?
        var message: String?
        var status: String?
    }

    var error: Detail
}
