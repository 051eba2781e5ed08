/// A Generative Language API request body (`models/{model}:generateContent`), built from an
/// OpenAI chat request.
///
/// - `system` and `developer` messages, wherever they are, become `systemInstruction` (one text
///   part, several joined with "\n\n");
/// - user → `user`, assistant → `model`; assistant text comes before its `functionCall` parts;
/// - `tool` messages become `functionResponse` parts of a user turn, named after the tool call
///   they answer (looked up by `tool_call_id` among the earlier assistant tool calls), with
///   `response: {"result": <content>}`, the content parsed when it is a JSON object;
/// - consecutive messages that end up with the same role are merged into one turn, as for
///   Anthropic: Gemini expects function responses in the turn right after the calls;
/// - empty texts are left out (Gemini refuses an empty text part), and so is a message left with
///   nothing; a conversation that would then start without a user turn is refused (400);
/// - a functionCall part gets back the `thoughtSignature` its tool call id carries
///   (`GeminiToolCallID`); on Gemini 3 the first call of a step without one gets Google's
///   documented fallback.
struct GeminiRequest: Encodable {
    struct Content: Encodable {
        var role: String?
        var parts: [Part]
    }

    enum Part: Encodable {
        case text(String)
        case inlineData(mimeType: String, data: String)
        case functionCall(name: String, args: [String: JSONValue], thoughtSignature: String?)
        case functionResponse(name: String, response: JSONValue)

        private enum CodingKeys: String, CodingKey { case text, inlineData, functionCall, functionResponse, thoughtSignature }
        private enum DataKeys: String, CodingKey { case mimeType, data }
        private enum CallKeys: String, CodingKey { case name, args, response }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .text(let text):
                try container.encode(text, forKey: .text)
            case .inlineData(let mimeType, let data):
                var inline = container.nestedContainer(keyedBy: DataKeys.self, forKey: .inlineData)
                try inline.encode(mimeType, forKey: .mimeType)
                try inline.encode(data, forKey: .data)
            case .functionCall(let name, let args, let thoughtSignature):
                var call = container.nestedContainer(keyedBy: CallKeys.self, forKey: .functionCall)
                try call.encode(name, forKey: .name)
                try call.encode(args, forKey: .args)
                // The signature belongs to the part, beside functionCall, as Gemini sent it.
                try container.encodeIfPresent(thoughtSignature, forKey: .thoughtSignature)
            case .functionResponse(let name, let response):
                var result = container.nestedContainer(keyedBy: CallKeys.self, forKey: .functionResponse)
                try result.encode(name, forKey: .name)
                try result.encode(response, forKey: .response)
            }
        }
    }

    struct GenerationConfig: Encodable {
        var temperature: Double?
        var topP: Double?
        var maxOutputTokens: Int?
        var stopSequences: [String]?
        var candidateCount: Int?
        var responseMimeType: String?
        /// JSON Schema as the client wrote it. Not `responseSchema`: that takes Gemini's OpenAPI
        /// subset, which refuses `additionalProperties` (in every strict OpenAI schema) and
        /// `$defs` / `$ref` (nested Pydantic models).
        var responseJsonSchema: JSONValue?
        var seed: Int?
        var presencePenalty: Double?
        var frequencyPenalty: Double?

        var isEmpty: Bool {
            temperature == nil && topP == nil && maxOutputTokens == nil && stopSequences == nil && candidateCount == nil
                && responseMimeType == nil && responseJsonSchema == nil && seed == nil && presencePenalty == nil
                && frequencyPenalty == nil
        }
    }

    struct Tool: Encodable {
        var functionDeclarations: [FunctionDeclaration]
    }

    struct FunctionDeclaration: Encodable {
        var name: String
        var description: String?
        /// JSON Schema, for the same reason as `responseJsonSchema` (`parameters` takes the subset).
        var parametersJsonSchema: JSONValue?
    }

    struct ToolConfig: Encodable {
        struct FunctionCallingConfig: Encodable {
            var mode: String
            var allowedFunctionNames: [String]?
        }

        var functionCallingConfig: FunctionCallingConfig
    }

    var contents: [Content]
    var systemInstruction: Content?
    var generationConfig: GenerationConfig?
    var tools: [Tool]?
    var toolConfig: ToolConfig?

    init(_ request: OpenAIChatRequest, model: String, maxTokens: Int?) throws(GatewayError) {
        var config = GenerationConfig(
            temperature: request.temperature, topP: request.topP, maxOutputTokens: maxTokens,
            stopSequences: request.stop.flatMap { $0.isEmpty ? nil : $0 }, candidateCount: request.n, seed: request.seed,
            presencePenalty: request.presencePenalty, frequencyPenalty: request.frequencyPenalty)
        switch request.responseFormat {
        case .jsonObject:
            config.responseMimeType = "application/json"
        case .jsonSchema(let schema):
            config.responseMimeType = "application/json"
            config.responseJsonSchema = schema
        case .text, nil:
            break
        }
        generationConfig = config.isEmpty ? nil : config
        if !request.tools.isEmpty {
            tools = [Tool(functionDeclarations: request.tools.map {
                FunctionDeclaration(name: $0.name, description: $0.description, parametersJsonSchema: $0.parameters)
            })]
        }
        toolConfig = request.toolChoice.map { choice in
            let config: ToolConfig.FunctionCallingConfig = switch choice {
            case .auto: .init(mode: "AUTO")
            case .none: .init(mode: "NONE")
            case .required: .init(mode: "ANY")
            case .named(let name): .init(mode: "ANY", allowedFunctionNames: [name])
            }
            return ToolConfig(functionCallingConfig: config)
        }

        var systemTexts: [String] = []
        var contents: [Content] = []
        var toolNames: [String: String] = [:]
        /// An all-empty user message left out before any turn: the first turn must still be a user's.
        var emptyFirstUser: Int?
        let signs = GeminiToolCallID.needsSignatures(model)
        func append(_ role: String, _ parts: [Part]) {
            guard !parts.isEmpty else { return }
            if let last = contents.last, last.role == role {
                contents[contents.count - 1].parts += parts
            } else {
                contents.append(Content(role: role, parts: parts))
            }
        }
        for (index, message) in request.messages.enumerated() {
            switch message {
            case .system(let text):
                if !text.isEmpty { systemTexts.append(text) }
            case .user(let parts):
                var converted: [Part] = []
                for part in parts {
                    switch part {
                    case .text(let text):
                        if !text.isEmpty { converted.append(.text(text)) }
                    case .image(.inline(let mediaType, let data), _):
                        converted.append(.inlineData(mimeType: mediaType, data: data))
                    case .image(.web, let param):
                        // Gemini reads remote files only through its Files API (fileData).
                        throw GatewayError.invalidRequest(
                            "Image URLs are not supported for this model; send the image as a base64 data URL.",
                            param: param, code: "unsupported_value")
                    }
                }
                if converted.isEmpty && contents.isEmpty && emptyFirstUser == nil { emptyFirstUser = index }
                append("user", converted)
            case .assistant(let text, let toolCalls):
                var parts: [Part] = []
                if let text, !text.isEmpty { parts.append(.text(text)) }
                for (number, call) in toolCalls.enumerated() {
                    toolNames[call.id] = call.name
                    // Gemini 3 checks the first call of each step only; later calls of a parallel
                    // batch come unsigned from Gemini itself.
                    let signature = GeminiToolCallID.signature(in: call.id)
                        ?? (signs && number == 0 ? GeminiToolCallID.fallbackSignature : nil)
                    parts.append(.functionCall(name: call.name, args: call.arguments, thoughtSignature: signature))
                }
                append("model", parts)
            case .tool(let callID, let content, let param):
                guard let name = toolNames[callID] else {
                    throw GatewayError.invalidRequest(
                        "'\(param)' does not match the id of an earlier assistant tool call.", param: param, code: "invalid_value")
                }
                let result: JSONValue = JSONValue(parsing: content).flatMap { $0.objectValue != nil ? $0 : nil } ?? .string(content)
                append("user", [.functionResponse(name: name, response: .object(["result": result]))])
            }
        }
        if let emptyFirstUser, contents.first?.role != "user" {
            throw OpenAIChatRequest.emptyFirstMessage(emptyFirstUser)
        }
        self.contents = contents
        if !systemTexts.isEmpty {
            systemInstruction = Content(parts: [.text(systemTexts.joined(separator: "\n\n"))])
        }
    }
}
