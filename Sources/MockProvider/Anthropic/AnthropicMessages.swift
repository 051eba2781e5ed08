import Foundation
import NIOCore

/// `POST /v1/messages`: request parsing and answer rendering, JSON and the event stream.
enum AnthropicMessages {
    static func render(_ body: JSON.Object?, faults: Faults) throws -> Prepared {
        let request = try parse(body)
        let answer = AnswerEngine.answer(request)
        if request.stream {
            return .stream(
                events(answer, model: request.model, pieces: faults.chunks),
                promptTokens: answer.promptTokens, completionTokens: answer.completionTokens
            )
        }
        return .json(message(answer, model: request.model), promptTokens: answer.promptTokens, completionTokens: answer.completionTokens)
    }

    /// `POST /v1/messages/count_tokens`.
    static func countTokens(_ body: JSON.Object?) throws -> Prepared {
        var body = body ?? [:]
        // count_tokens takes no max_tokens; parsing only needs a number there.
        body["max_tokens"] = body["max_tokens"] ?? 1
        let request = try parse(body)
        return .json(["input_tokens": .int(TokenCounter.tokens(characters: request.promptCharacters))])
    }

    static func parse(_ body: JSON.Object?) throws -> ChatRequest {
        guard let body else { throw ProviderError.badRequest("Request body must be a JSON object.") }
        guard let model = body.string("model") else { throw ProviderError.badRequest("model: Field required") }
        guard let maxTokens = body.int("max_tokens") else { throw ProviderError.badRequest("max_tokens: Field required") }
        guard let messages = body.array("messages") as? [JSON.Object], !messages.isEmpty else {
            throw ProviderError.badRequest("messages: Field required")
        }
        try AnthropicContentRules.check(messages)
        var request = ChatRequest(model: model)
        request.stream = body.bool("stream") ?? false
        request.maxTokens = maxTokens
        request.countPrompt(text(of: body["system"]))
        for message in messages {
            let text = self.text(of: message["content"])
            let results = toolResults(in: message["content"])
            request.countPrompt(text)
            for result in results { request.countPrompt(result) }
            if message.string("role") == "user" && results.isEmpty { request.lastUserText = text }
            if message.string("role") == "user" && !results.isEmpty {
                request.toolResult = results.joined(separator: "\n")
            }
        }
        // Only a tool result in the last message asks for a tool-result answer.
        if let last = messages.last, toolResults(in: last["content"]).isEmpty { request.toolResult = nil }
        request.tools = body.objects("tools").compactMap { tool in
            guard let name = tool.string("name") else { return nil }
            return ToolSpec(name: name, arguments: ToolArguments.object(schema: tool.object("input_schema")))
        }
        if let choice = body.object("tool_choice") {
            switch choice.string("type") {
            case "none": request.toolChoice = .none
            case "any": request.toolChoice = .required
            case "tool": request.toolChoice = choice.string("name").map { .named($0) } ?? .required
            default: request.toolChoice = .auto
            }
        }
        return request
    }

    /// Text of a string content or of its `text` blocks, joined by "\n".
    static func text(of content: Any?) -> String {
        if let text = content as? String { return text }
        guard let blocks = content as? [Any] else { return "" }
        return blocks.compactMap { block -> String? in
            guard let block = block as? JSON.Object, block.string("type") == "text" else { return nil }
            return block.string("text")
        }.joined(separator: "\n")
    }

    private static func toolResults(in content: Any?) -> [String] {
        guard let blocks = content as? [Any] else { return [] }
        return blocks.compactMap { block -> String? in
            guard let block = block as? JSON.Object, block.string("type") == "tool_result" else { return nil }
            return text(of: block["content"])
        }
    }

    static func stopReason(_ answer: Answer) -> JSONValue {
        switch answer.finish {
        case .stop: "end_turn"
        case .length: "max_tokens"
        case .toolCall: "tool_use"
        }
    }

    static func toolUseID(_ name: String) -> JSONValue { .string("toolu_mock_\(name)") }

    private static func contentBlock(_ answer: Answer) -> JSONValue {
        switch answer.content {
        case .text(let text):
            return ["type": "text", "text": .string(text)]
        case .toolCall(let tool):
            return ["type": "tool_use", "id": toolUseID(tool.name), "name": .string(tool.name), "input": tool.arguments]
        }
    }

    private static func message(_ answer: Answer, model: String) -> JSONValue {
        [
            "id": "msg_mock",
            "type": "message",
            "role": "assistant",
            "model": .string(model),
            "content": [contentBlock(answer)],
            "stop_reason": stopReason(answer),
            "stop_sequence": nil,
            "usage": ["input_tokens": .int(answer.promptTokens), "output_tokens": .int(answer.completionTokens)],
        ]
    }

    /// message_start, ping, content_block_start, one content_block_delta per piece,
    /// content_block_stop, message_delta (stop reason and usage), message_stop.
    private static func events(_ answer: Answer, model: String, pieces count: Int?) -> [ByteBuffer] {
        var events: [ByteBuffer] = []
        events.append(SSE.event("message_start", ["type": "message_start", "message": [
            "id": "msg_mock", "type": "message", "role": "assistant", "model": .string(model), "content": [],
            "stop_reason": nil, "stop_sequence": nil,
            "usage": ["input_tokens": .int(answer.promptTokens), "output_tokens": 1],
        ]]))
        events.append(SSE.event("ping", ["type": "ping"]))
        let start: JSONValue
        let pieces: [String]
        let deltaType: JSONValue
        let deltaField: String
        switch answer.content {
        case .text(let text):
            start = ["type": "text", "text": ""]
            pieces = TextSplitter.pieces(text, count: count)
            (deltaType, deltaField) = ("text_delta", "text")
        case .toolCall(let tool):
            start = ["type": "tool_use", "id": toolUseID(tool.name), "name": .string(tool.name), "input": [:]]
            pieces = TextSplitter.pieces(tool.argumentsJSON, count: count ?? 1)
            (deltaType, deltaField) = ("input_json_delta", "partial_json")
        }
        events.append(SSE.event("content_block_start", ["type": "content_block_start", "index": 0, "content_block": start]))
        let template = EventTemplate(SSE.event("content_block_delta", [
            "type": "content_block_delta", "index": 0,
            "delta": .object(["type": deltaType, deltaField: EventTemplate.slot]),
        ]))
        for piece in pieces {
            events.append(template.event(piece))
        }
        events.append(SSE.event("content_block_stop", ["type": "content_block_stop", "index": 0]))
        events.append(SSE.event("message_delta", [
            "type": "message_delta",
            "delta": ["stop_reason": stopReason(answer), "stop_sequence": nil],
            "usage": ["output_tokens": .int(answer.completionTokens)],
        ]))
        events.append(SSE.event("message_stop", ["type": "message_stop"]))
        return events
    }
}
