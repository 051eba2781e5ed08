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
        /// Gemini 3's signature of a function call, wanted back on it next turn (`GeminiToolCallID`).
        var thoughtSignature: String?
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
    /// Tool call ids are `callIDPrefix` numbered through the whole answer (`GeminiToolCallID`).
    func completion(model: String, created: Int, callIDPrefix: String) -> OpenAIChatCompletion {
        var choices: [OpenAIChatCompletion.Choice] = []
        var ids = GeminiToolCallID.Numbering(prefix: callIDPrefix)
        for (position, candidate) in (candidates ?? []).enumerated() {
            let parts = (candidate.content?.parts ?? []).filter { $0.thought != true }
            let texts = parts.compactMap(\.text)
            var toolCalls: [OpenAIToolCall] = []
            for part in parts {
                guard let call = part.functionCall else { continue }
                toolCalls.append(.whole(id: ids.id(signature: part.thoughtSignature), name: call.name, arguments: Self.arguments(call)))
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

    static func arguments(_ call: FunctionCall) -> String {
        (call.args ?? .object([:])).compactJSON
    }

    /// Gemini's `finishReason` as OpenAI's `finish_reason`. Gemini ends a function call turn
    /// with STOP; OpenAI clients look for `tool_calls`. A tool call Gemini could not produce
    /// (MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS,
    /// MISSING_THOUGHT_SIGNATURE) leaves an answer with neither text nor calls: `stop` would read
    /// as a finished, empty answer, so it is `error`, as OpenRouter and the Vercel AI SDK report it.
    static func finishReason(_ reason: String?, hasToolCalls: Bool) -> String {
        switch reason {
        case "MAX_TOKENS": "length"
        case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT",
            "IMAGE_RECITATION":
            "content_filter"
        case "MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS", "MISSING_THOUGHT_SIGNATURE": "error"
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
