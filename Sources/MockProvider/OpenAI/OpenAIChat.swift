import Foundation
import NIOCore

/// `POST /v1/chat/completions`: request parsing and answer rendering, JSON and SSE.
enum OpenAIChat {
    static func render(_ body: JSON.Object?, faults: Faults) throws -> Prepared {
        guard let body else { throw ProviderError.badRequest("Request body must be a JSON object.") }
        guard let model = body.string("model") else { throw ProviderError.badRequest("Missing required parameter: 'model'.") }
        guard let messages = body.array("messages") as? [JSON.Object], !messages.isEmpty else {
            throw ProviderError.badRequest("Missing required parameter: 'messages'.")
        }
        var request = ChatRequest(model: model)
        request.stream = body.bool("stream") ?? false
        request.maxTokens = body.int("max_completion_tokens") ?? body.int("max_tokens")
        for message in messages {
            let text = self.text(of: message["content"])
            request.countPrompt(text)
            if message.string("role") == "user" { request.lastUserText = text }
        }
        if let last = messages.last, last.string("role") == "tool" {
            request.toolResult = text(of: last["content"])
        }
        request.tools = body.objects("tools").compactMap { tool in
            guard let function = tool.object("function"), let name = function.string("name") else { return nil }
            return ToolSpec(name: name, arguments: ToolArguments.object(schema: function.object("parameters")))
        }
        request.toolChoice = toolChoice(body["tool_choice"])
        if let format = body.object("response_format"), format.string("type") == "json_schema" {
            request.answerJSON(following: format.object("json_schema")?.object("schema"))
        }

        let answer = AnswerEngine.answer(request)
        let includeUsage = body.object("stream_options")?.bool("include_usage") ?? false
        let chunk = ChunkFactory(model: model, includeUsage: includeUsage)
        if request.stream {
            return .stream(
                events(answer, chunk: chunk, pieces: faults.chunks),
                promptTokens: answer.promptTokens, completionTokens: answer.completionTokens
            )
        }
        return .json(completion(answer, model: model), promptTokens: answer.promptTokens, completionTokens: answer.completionTokens)
    }

    /// A message's text: a string, or its text parts joined by "\n".
    static func text(of content: Any?) -> String {
        if let text = content as? String { return text }
        guard let parts = content as? [Any] else { return "" }
        return parts.compactMap { ($0 as? JSON.Object)?.string("text") }.joined(separator: "\n")
    }

    private static func toolChoice(_ value: Any?) -> ToolChoice {
        if let choice = value as? String {
            switch choice {
            case "none": return .none
            case "required": return .required
            default: return .auto
            }
        }
        if let name = (value as? JSON.Object)?.object("function")?.string("name") { return .named(name) }
        return .auto
    }

    static func usage(_ answer: Answer) -> JSONValue {
        [
            "prompt_tokens": .int(answer.promptTokens),
            "completion_tokens": .int(answer.completionTokens),
            "total_tokens": .int(answer.totalTokens),
        ]
    }

    static func finishReason(_ answer: Answer) -> JSONValue {
        switch answer.finish {
        case .stop: "stop"
        case .length: "length"
        case .toolCall: "tool_calls"
        }
    }

    static func toolCallID(_ name: String) -> JSONValue { .string("call_mock_\(name)") }

    private static func completion(_ answer: Answer, model: String) -> JSONValue {
        let message: JSONValue
        switch answer.content {
        case .text(let text):
            message = ["role": "assistant", "content": .string(text), "refusal": nil]
        case .toolCall(let tool):
            message = [
                "role": "assistant", "content": nil, "refusal": nil,
                "tool_calls": [[
                    "id": toolCallID(tool.name), "type": "function",
                    "function": ["name": .string(tool.name), "arguments": .string(tool.argumentsJSON)],
                ]],
            ]
        }
        return [
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "created": .int(Int(Date().timeIntervalSince1970)),
            "model": .string(model),
            "system_fingerprint": "fp_mock",
            "choices": [["index": 0, "message": message, "logprobs": nil, "finish_reason": finishReason(answer)]],
            "usage": usage(answer),
        ]
    }

    /// The stream: a role chunk, one chunk per piece, a finish chunk, the usage chunk when
    /// asked for, then `[DONE]`.
    private static func events(_ answer: Answer, chunk: ChunkFactory, pieces count: Int?) -> [ByteBuffer] {
        var events: [ByteBuffer] = []
        switch answer.content {
        case .text(let text):
            let pieces = TextSplitter.pieces(text, count: count)
            events.reserveCapacity(pieces.count + 4)
            events.append(chunk.make(delta: ["role": "assistant", "content": ""]))
            let template = EventTemplate(chunk.make(delta: ["content": EventTemplate.slot]))
            for piece in pieces {
                events.append(template.event(piece))
            }
        case .toolCall(let tool):
            // Arguments go in one piece unless x-mock-chunks asks for more.
            let pieces = TextSplitter.pieces(tool.argumentsJSON, count: count ?? 1)
            events.append(chunk.make(delta: [
                "role": "assistant", "content": nil,
                "tool_calls": [[
                    "index": 0, "id": toolCallID(tool.name), "type": "function",
                    "function": ["name": .string(tool.name), "arguments": ""],
                ]],
            ]))
            let template = EventTemplate(chunk.make(delta: ["tool_calls": [["index": 0, "function": ["arguments": EventTemplate.slot]]]]))
            for piece in pieces {
                events.append(template.event(piece))
            }
        }
        events.append(chunk.make(delta: [:], finishReason: finishReason(answer)))
        if chunk.includeUsage {
            events.append(chunk.usageChunk(usage(answer)))
        }
        events.append(SSE.done)
        return events
    }
}

/// Builds `chat.completion.chunk` events that share id, model and timestamp.
struct ChunkFactory {
    let model: String
    let includeUsage: Bool
    let created = Int(Date().timeIntervalSince1970)

    func make(delta: JSONValue, finishReason: JSONValue = nil) -> ByteBuffer {
        var chunk = base
        chunk["choices"] = [["index": 0, "delta": delta, "logprobs": nil, "finish_reason": finishReason]]
        // With include_usage, OpenAI sends "usage": null on every chunk but the last.
        if includeUsage { chunk["usage"] = JSONValue.null }
        return SSE.data(.object(chunk))
    }

    func usageChunk(_ usage: JSONValue) -> ByteBuffer {
        var chunk = base
        chunk["choices"] = []
        chunk["usage"] = usage
        return SSE.data(.object(chunk))
    }

    private var base: [String: JSONValue] {
        [
            "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": .int(created),
            "model": .string(model), "system_fingerprint": "fp_mock",
        ]
    }
}
