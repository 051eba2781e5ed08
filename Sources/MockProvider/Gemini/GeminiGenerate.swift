import Foundation
import NIOCore

/// `models/{model}:generateContent` and `:streamGenerateContent`: parsing and rendering.
enum GeminiGenerate {
    static func render(_ body: JSON.Object?, model: String, stream: Bool, sse: Bool, faults: Faults) throws -> Prepared {
        let request = try parse(body, model: model)
        let answer = AnswerEngine.answer(request)
        guard stream else {
            return .json(chunk(answer, model: model, parts: [part(answer, model: model)], final: true),
                         promptTokens: answer.promptTokens, completionTokens: answer.completionTokens)
        }
        let pieces: [String]
        switch answer.content {
        case .text(let text): pieces = TextSplitter.pieces(text, count: faults.chunks)
        // Gemini sends a function call whole, in one chunk.
        case .toolCall: pieces = []
        }
        let last = chunk(answer, model: model, parts: [pieces.last.map { ["text": .string($0)] } ?? part(answer, model: model)], final: true)
        let leading = pieces.dropLast()
        guard sse else {
            // Without alt=sse Gemini streams one JSON array of the same chunks.
            let chunks = leading.map { chunk(answer, model: model, parts: [["text": .string($0)]], final: false) } + [last]
            return .json(.array(chunks), promptTokens: answer.promptTokens, completionTokens: answer.completionTokens)
        }
        var events: [ByteBuffer] = []
        events.reserveCapacity(pieces.count + 1)
        if !leading.isEmpty {
            let template = EventTemplate(SSE.data(chunk(answer, model: model, parts: [["text": EventTemplate.slot]], final: false), lineEnd: "\r\n"))
            events += leading.map(template.event)
        }
        events.append(SSE.data(last, lineEnd: "\r\n"))
        return .stream(events, promptTokens: answer.promptTokens, completionTokens: answer.completionTokens)
    }

    /// `:countTokens`.
    static func countTokens(_ body: JSON.Object?, model: String) throws -> Prepared {
        // countTokens may wrap the request in generateContentRequest.
        let inner = body?.object("generateContentRequest") ?? body
        var withContents = inner ?? [:]
        if withContents["contents"] == nil { withContents["contents"] = [JSON.Object]() }
        let request = try parse(withContents, model: model, requireContents: false)
        return .json(["totalTokens": .int(TokenCounter.tokens(characters: request.promptCharacters))])
    }

    static func parse(_ body: JSON.Object?, model: String, requireContents: Bool = true) throws -> ChatRequest {
        guard let body else { throw ProviderError.badRequest("Request body must be a JSON object.") }
        let contents = body.objects("contents")
        if requireContents && contents.isEmpty {
            throw ProviderError.badRequest("* GenerateContentRequest.contents: contents is not specified")
        }
        if requireContents { try GeminiContentRules.check(body, model: model) }
        var request = ChatRequest(model: model)
        let config = body.object("generationConfig")
        request.maxTokens = config?.int("maxOutputTokens")
        if let config {
            try GeminiSchemaSubset.exclusive(config, "responseSchema", "responseJsonSchema", at: "generation_config")
            try GeminiSchemaSubset.check(config["responseSchema"], at: "generation_config.response_schema")
            request.answerJSON(following: config.object("responseJsonSchema") ?? config.object("responseSchema"))
        }
        request.countPrompt(text(of: body.object("systemInstruction")))
        for content in contents {
            let text = self.text(of: content)
            let results = functionResponses(in: content)
            request.countPrompt(text)
            for result in results { request.countPrompt(result) }
            if content.string("role") ?? "user" == "user" && results.isEmpty { request.lastUserText = text }
        }
        if let last = contents.last {
            let results = functionResponses(in: last)
            if !results.isEmpty { request.toolResult = results.joined(separator: "\n") }
        }
        for (toolIndex, tool) in body.objects("tools").enumerated() {
            for (index, declaration) in tool.objects("functionDeclarations").enumerated() {
                let path = "tools[\(toolIndex)].function_declarations[\(index)]"
                try GeminiSchemaSubset.exclusive(declaration, "parameters", "parametersJsonSchema", at: path)
                try GeminiSchemaSubset.check(declaration["parameters"], at: "\(path).parameters")
                guard let name = declaration.string("name") else { continue }
                // google-genai sends JSON-schema declarations built from Python callables as
                // snake_case `parameters_json_schema`.
                let schema = declaration.object("parameters") ?? declaration.object("parametersJsonSchema")
                    ?? declaration.object("parameters_json_schema")
                request.tools.append(ToolSpec(name: name, arguments: ToolArguments.object(schema: schema)))
            }
        }
        if let config = body.object("toolConfig")?.object("functionCallingConfig") {
            switch config.string("mode")?.uppercased() {
            case "NONE": request.toolChoice = .none
            case "ANY":
                let allowed = config.array("allowedFunctionNames") as? [String]
                request.toolChoice = allowed?.first.map { .named($0) } ?? .required
            default: request.toolChoice = .auto
            }
        }
        return request
    }

    /// Text parts of a Content, joined by "\n".
    static func text(of content: JSON.Object?) -> String {
        (content?.objects("parts") ?? []).compactMap { $0.string("text") }.joined(separator: "\n")
    }

    /// Each functionResponse's `response`, as compact JSON with sorted keys.
    private static func functionResponses(in content: JSON.Object) -> [String] {
        content.objects("parts").compactMap { part in
            part.object("functionResponse").map { JSON.string(JSONValue(any: $0["response"] ?? JSON.Object())) }
        }
    }

    private static func part(_ answer: Answer, model: String) -> JSONValue {
        switch answer.content {
        case .text(let text):
            return ["text": .string(text)]
        case .toolCall(let tool):
            var part: [String: JSONValue] = ["functionCall": ["name": .string(tool.name), "args": tool.arguments]]
            if GeminiContentRules.signsFunctionCalls(model) {
                part["thoughtSignature"] = .string(GeminiContentRules.signature(for: tool.name))
            }
            return .object(part)
        }
    }

    private static func chunk(_ answer: Answer, model: String, parts: [JSONValue], final: Bool) -> JSONValue {
        var candidate: [String: JSONValue] = ["content": ["role": "model", "parts": .array(parts)], "index": 0]
        var chunk: [String: JSONValue] = ["modelVersion": .string(model), "responseId": "mock"]
        if final {
            candidate["finishReason"] = answer.finish == .length ? "MAX_TOKENS" : "STOP"
            chunk["usageMetadata"] = [
                "promptTokenCount": .int(answer.promptTokens),
                "candidatesTokenCount": .int(answer.completionTokens),
                "totalTokenCount": .int(answer.totalTokens),
            ]
        }
        chunk["candidates"] = [.object(candidate)]
        return .object(chunk)
    }
}
