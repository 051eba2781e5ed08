/// A Messages API request body (`POST /v1/messages`), built from an OpenAI chat request.
///
/// Anthropic wants the system prompt apart from the turns and user and assistant turns that
/// alternate, so:
/// - `system` and `developer` messages, wherever they are, become the top-level `system`
///   string, several joined with "\n\n" (in their order);
/// - `tool` messages become `tool_result` blocks of a user turn;
/// - consecutive messages that end up with the same role (two user messages, several tool
///   results, tool results followed by a user message) are merged into one turn, their blocks
///   in order;
/// - an assistant message with neither text nor tool calls has nothing to say and is left out;
/// - empty texts are left out (Anthropic refuses empty text: "all messages must have non-empty
///   content except for the optional final assistant message"), and so is a user message left
///   with nothing; a conversation that would then start without a user turn is refused (400);
/// - a final assistant message (a prefill) loses its trailing whitespace, which Anthropic refuses
///   ("final assistant content cannot end with trailing whitespace").
/// A turn that is a single text block is sent with string content, as clients usually write it.
struct AnthropicRequest: Encodable {
    struct Message: Encodable {
        var role: String
        var content: [Block]

        private enum CodingKeys: String, CodingKey { case role, content }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(role, forKey: .role)
            if content.count == 1, case .text(let text) = content[0] {
                try container.encode(text, forKey: .content)
            } else {
                try container.encode(content, forKey: .content)
            }
        }
    }

    enum Block: Encodable {
        case text(String)
        case image(OpenAIChatRequest.Image)
        case toolUse(id: String, name: String, input: [String: JSONValue])
        case toolResult(toolUseID: String, content: String)

        private enum CodingKeys: String, CodingKey {
            case type, text, source, id, name, input, toolUseID = "tool_use_id", content
        }

        private enum SourceKeys: String, CodingKey { case type, mediaType = "media_type", data, url }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .text(let text):
                try container.encode("text", forKey: .type)
                try container.encode(text, forKey: .text)
            case .image(let image):
                try container.encode("image", forKey: .type)
                var source = container.nestedContainer(keyedBy: SourceKeys.self, forKey: .source)
                switch image {
                case .inline(let mediaType, let data):
                    try source.encode("base64", forKey: .type)
                    try source.encode(mediaType, forKey: .mediaType)
                    try source.encode(data, forKey: .data)
                case .web(let url):
                    try source.encode("url", forKey: .type)
                    try source.encode(url, forKey: .url)
                }
            case .toolUse(let id, let name, let input):
                try container.encode("tool_use", forKey: .type)
                try container.encode(id, forKey: .id)
                try container.encode(name, forKey: .name)
                try container.encode(input, forKey: .input)
            case .toolResult(let toolUseID, let content):
                try container.encode("tool_result", forKey: .type)
                try container.encode(toolUseID, forKey: .toolUseID)
                try container.encode(content, forKey: .content)
            }
        }
    }

    struct Tool: Encodable {
        var name: String
        var description: String?
        var inputSchema: JSONValue

        private enum CodingKeys: String, CodingKey { case name, description, inputSchema = "input_schema" }
    }

    struct ToolChoice: Encodable, Equatable {
        var type: String
        var name: String?
        /// `parallel_tool_calls: false`: at most one tool call (exactly one with `any` / `tool`).
        var disableParallelToolUse: Bool?

        private enum CodingKeys: String, CodingKey { case type, name, disableParallelToolUse = "disable_parallel_tool_use" }
    }

    var model: String
    var maxTokens: Int
    var messages: [Message]
    var system: String?
    var temperature: Double?
    var topP: Double?
    var stopSequences: [String]?
    var stream: Bool?
    var tools: [Tool]?
    var toolChoice: ToolChoice?

    private enum CodingKeys: String, CodingKey {
        case model, maxTokens = "max_tokens", messages, system, temperature, topP = "top_p"
        case stopSequences = "stop_sequences", stream, tools, toolChoice = "tool_choice"
    }

    /// A tool without `parameters` takes no arguments; Anthropic requires a schema all the same.
    static let emptySchema: JSONValue = .object(["type": .string("object"), "properties": .object([:])])

    init(_ request: OpenAIChatRequest, model: String, maxTokens: Int, stream: Bool) throws(GatewayError) {
        self.model = model
        self.maxTokens = maxTokens
        self.stream = stream ? true : nil
        // Anthropic's range is 0...1, OpenAI's 0...2: a higher value cannot be honoured.
        if let temperature = request.temperature, !(0...1).contains(temperature) {
            throw GatewayError.invalidRequest(
                "'temperature' must be between 0 and 1 for this model.", param: "temperature", code: "invalid_value")
        }
        temperature = request.temperature
        topP = request.topP
        stopSequences = request.stop.flatMap { $0.isEmpty ? nil : $0 }
        if !request.tools.isEmpty {
            tools = request.tools.map { Tool(name: $0.name, description: $0.description, inputSchema: $0.parameters ?? Self.emptySchema) }
        }
        toolChoice = request.toolChoice.map { choice in
            switch choice {
            case .auto: ToolChoice(type: "auto")
            case .none: ToolChoice(type: "none")
            case .required: ToolChoice(type: "any")
            case .named(let name): ToolChoice(type: "tool", name: name)
            }
        }
        // Anthropic takes the switch on auto, any and tool (not on none, which calls nothing), and
        // tool_choice only beside tools.
        if request.parallelToolCalls == false, !request.tools.isEmpty {
            var choice = toolChoice ?? ToolChoice(type: "auto")
            if choice.type != "none" { choice.disableParallelToolUse = true }
            toolChoice = choice
        }

        var systemTexts: [String] = []
        var messages: [Message] = []
        /// An all-empty user message left out before any turn: the first turn must still be a user's.
        var emptyFirstUser: Int?
        func append(_ role: String, _ blocks: [Block]) {
            guard !blocks.isEmpty else { return }
            if let last = messages.last, last.role == role {
                messages[messages.count - 1].content += blocks
            } else {
                messages.append(Message(role: role, content: blocks))
            }
        }
        for (index, message) in request.messages.enumerated() {
            switch message {
            case .system(let text):
                if !text.isEmpty { systemTexts.append(text) }
            case .user(let parts):
                let blocks: [Block] = parts.compactMap { part in
                    switch part {
                    case .text(let text): text.isEmpty ? nil : .text(text)
                    case .image(let image, _): .image(image)
                    }
                }
                if blocks.isEmpty && messages.isEmpty && emptyFirstUser == nil { emptyFirstUser = index }
                append("user", blocks)
            case .assistant(let text, let toolCalls):
                var blocks: [Block] = []
                // Anthropic refuses empty text blocks.
                if let text, !text.isEmpty { blocks.append(.text(text)) }
                blocks += toolCalls.map { .toolUse(id: $0.id, name: $0.name, input: $0.arguments) }
                append("assistant", blocks)
            case .tool(let callID, let content, _):
                append("user", [.toolResult(toolUseID: callID, content: content)])
            }
        }
        if let emptyFirstUser, messages.first?.role != "user" {
            throw OpenAIChatRequest.emptyFirstMessage(emptyFirstUser)
        }
        if let last = messages.indices.last, messages[last].role == "assistant", case .text(let text)? = messages[last].content.last {
            var trimmed = Substring(text)
            while trimmed.last?.isWhitespace == true { trimmed.removeLast() }
            messages[last].content.removeLast()
            if !trimmed.isEmpty { messages[last].content.append(.text(String(trimmed))) }
            if messages[last].content.isEmpty { messages.removeLast() }
        }
        self.messages = messages
        system = systemTexts.isEmpty ? nil : systemTexts.joined(separator: "\n\n")
    }
}
