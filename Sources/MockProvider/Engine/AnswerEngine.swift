/// Derives the reply from the request alone, so tests can assert exact bytes.
///
/// The rule (docs/mock-provider.md):
/// - last message is a tool result: text `Mock reply to tool result: <result>`;
/// - tools offered, choice not "none", and the choice forces a tool, or the last user text
///   contains "tool" (any case) or an offered tool's name: a call to the named tool (the first
///   offered tool whose name appears in the text, else the first offered tool);
/// - otherwise text `Mock reply to: <last user text>`, cut to max_tokens * 4 scalars;
/// - a text answer to a request with a response schema is instead the object `ToolArguments`
///   builds from that schema, as compact JSON with sorted keys (also cut at max_tokens).
enum AnswerEngine {
    static let replyPrefix = "Mock reply to: "
    static let toolResultPrefix = "Mock reply to tool result: "

    static func answer(_ request: ChatRequest) -> Answer {
        let promptTokens = TokenCounter.tokens(characters: request.promptCharacters)
        if request.toolResult == nil, let tool = chosenTool(request) {
            return Answer(
                content: .toolCall(tool),
                finish: .toolCall,
                promptTokens: promptTokens,
                completionTokens: TokenCounter.tokens(tool.argumentsJSON)
            )
        }
        var text: String
        if let json = request.jsonAnswer {
            text = json
        } else if let result = request.toolResult {
            text = toolResultPrefix + result
        } else {
            text = replyPrefix + request.lastUserText
        }
        var finish = Answer.Finish.stop
        if let maxTokens = request.maxTokens, maxTokens >= 0, TokenCounter.tokens(text) > maxTokens {
            let limit = maxTokens * TokenCounter.charactersPerToken
            text = String(String.UnicodeScalarView(text.unicodeScalars.prefix(limit)))
            finish = .length
        }
        return Answer(
            content: .text(text),
            finish: finish,
            promptTokens: promptTokens,
            completionTokens: TokenCounter.tokens(text)
        )
    }

    static func chosenTool(_ request: ChatRequest) -> ToolSpec? {
        guard let first = request.tools.first else { return nil }
        let text = request.lastUserText.lowercased()
        let named = request.tools.first { text.contains($0.name.lowercased()) }
        switch request.toolChoice {
        case .none:
            return nil
        case .named(let name):
            return request.tools.first { $0.name == name } ?? first
        case .required:
            return named ?? first
        case .auto:
            if let named { return named }
            return text.contains("tool") ? first : nil
        }
    }
}
