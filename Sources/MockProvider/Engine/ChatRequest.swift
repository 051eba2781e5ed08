/// A chat request reduced to what the answer depends on, the same for all three dialects.
struct ChatRequest: Sendable {
    var model: String
    var stream = false
    /// max_tokens / max_completion_tokens / maxOutputTokens.
    var maxTokens: Int?
    /// Unicode scalars of all prompt text (see `TokenCounter`).
    var promptCharacters = 0
    /// Text of the last user message (its text parts joined by "\n").
    var lastUserText = ""
    /// Set when the last message carries tool results: their text joined by "\n".
    var toolResult: String?
    var tools: [ToolSpec] = []
    /// With a response schema (OpenAI `response_format` json_schema, Gemini `responseJsonSchema`
    /// / `responseSchema`): the object built from it, as compact JSON, which replaces a text answer.
    var jsonAnswer: String?
    var toolChoice: ToolChoice = .auto

    init(model: String) {
        self.model = model
    }

    /// Answers text with an object built from `schema` (nil: no schema, plain text).
    mutating func answerJSON(following schema: JSON.Object?) {
        jsonAnswer = schema.map { JSON.string(ToolArguments.object(schema: $0)) }
    }

    /// Adds a piece of prompt text to the character count.
    mutating func countPrompt(_ text: String) {
        promptCharacters += text.unicodeScalars.count
    }
}

/// A tool the request offers, with the arguments the simulator would call it with.
struct ToolSpec: Sendable {
    var name: String
    /// Built by `ToolArguments` from the tool's schema.
    var arguments: JSONValue
    /// The same as compact JSON with sorted keys.
    var argumentsJSON: String

    init(name: String, arguments: JSONValue) {
        self.name = name
        self.arguments = arguments
        self.argumentsJSON = JSON.string(arguments)
    }
}

enum ToolChoice: Sendable, Equatable {
    case auto
    case none
    /// Some tool must be called (OpenAI "required", Anthropic "any", Gemini mode ANY).
    case required
    case named(String)
}
