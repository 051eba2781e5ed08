import Foundation
import NIOCore

/// An OpenAI chat completion request, parsed and checked once for the adapters, which then only
/// decide how to say it in their provider's terms. Every malformed part is a 400 naming the
/// field (`messages[2].tool_calls[0].function.arguments`).
struct OpenAIChatRequest {
    enum Image: Equatable {
        /// A `data:<media type>;base64,<data>` URL.
        case inline(mediaType: String, data: String)
        /// An `http(s)://` URL.
        case web(String)
    }

    enum Part: Equatable {
        case text(String)
        case image(Image, param: String)
    }

    struct ToolCall {
        var id: String
        var name: String
        /// The parsed `arguments` (always a JSON object: both providers want one).
        var arguments: [String: JSONValue]
    }

    enum Message {
        /// `system` and `developer` messages (providers take these apart from the turns).
        case system(String)
        case user([Part])
        case assistant(text: String?, toolCalls: [ToolCall])
        case tool(callID: String, content: String, param: String)
    }

    struct Tool {
        var name: String
        var description: String?
        var parameters: JSONValue?
    }

    enum ToolChoice: Equatable {
        case auto, none, required
        case named(String)
    }

    enum ResponseFormat {
        case text, jsonObject
        case jsonSchema(JSONValue)
    }

    var messages: [Message]
    var temperature: Double?
    var topP: Double?
    var stop: [String]?
    var n: Int?
    var tools: [Tool]
    var toolChoice: ToolChoice?
    var responseFormat: ResponseFormat?
    var seed: Int?
    var presencePenalty: Double?
    var frequencyPenalty: Double?
    var parallelToolCalls: Bool?
    /// The body's top-level members, for each adapter's list of dropped and refused fields.
    let fields: [String: JSONValue]

    init(_ body: ByteBuffer) throws(GatewayError) {
        guard let fields = AdapterJSON.decode([String: JSONValue].self, from: body) else {
            throw GatewayError.invalidRequest("The request body must be a JSON object.", code: "invalid_json")
        }
        self.fields = fields
        guard let rawMessages = fields["messages"]?.arrayValue, !rawMessages.isEmpty else {
            throw GatewayError.invalidRequest("'messages' must be a non-empty array.", param: "messages", code: "invalid_type")
        }
        var messages: [Message] = []
        for (index, raw) in rawMessages.enumerated() {
            messages.append(try Self.message(raw, param: "messages[\(index)]"))
        }
        guard messages.contains(where: { if case .system = $0 { false } else { true } }) else {
            throw GatewayError.invalidRequest(
                "'messages' must contain at least one user or assistant message.", param: "messages", code: "invalid_value")
        }
        self.messages = messages
        temperature = try Self.number(fields, "temperature")
        topP = try Self.number(fields, "top_p")
        n = try Self.integer(fields, "n")
        if let n, n < 1 {
            throw GatewayError.invalidRequest("'n' must be at least 1.", param: "n", code: "invalid_value")
        }
        stop = try Self.stop(fields["stop"])
        tools = try Self.tools(fields["tools"])
        toolChoice = try Self.toolChoice(fields["tool_choice"])
        responseFormat = try Self.responseFormat(fields["response_format"])
        seed = try Self.integer(fields, "seed")
        presencePenalty = try Self.number(fields, "presence_penalty")
        frequencyPenalty = try Self.number(fields, "frequency_penalty")
        if let value = fields["parallel_tool_calls"], !value.isNull {
            guard case .bool(let flag) = value else {
                throw GatewayError.invalidRequest(
                    "'parallel_tool_calls' must be a boolean.", param: "parallel_tool_calls", code: "invalid_type")
            }
            parallelToolCalls = flag
        }
    }

    /// The refusal for a user message whose content is all empty text when leaving it out would
    /// leave the provider no first user turn: both providers refuse empty text, and guessing
    /// words for the client would change the conversation.
    static func emptyFirstMessage(_ index: Int) -> GatewayError {
        GatewayError.invalidRequest(
            "'messages[\(index)].content' is empty; this model needs the conversation to start with a user message that has content.",
            param: "messages[\(index)].content", code: "invalid_value")
    }

    /// Top-level members present with a non-null value.
    var presentFields: [String] {
        fields.filter { !$0.value.isNull }.keys.sorted()
    }

    // MARK: Messages

    private static func message(_ raw: JSONValue, param: String) throws(GatewayError) -> Message {
        guard let object = raw.objectValue else {
            throw GatewayError.invalidRequest("'\(param)' must be an object.", param: param, code: "invalid_type")
        }
        guard let role = object["role"]?.stringValue else {
            throw GatewayError.invalidRequest("'\(param).role' must be a string.", param: "\(param).role", code: "invalid_type")
        }
        let content = object["content"] ?? .null
        switch role {
        case "system", "developer":
            return .system(try text(content, param: "\(param).content"))
        case "user":
            return .user(try userParts(content, param: "\(param).content"))
        case "assistant":
            for legacy in ["function_call", "audio"] where !(object[legacy]?.isNull ?? true) {
                throw unsupported("\(param).\(legacy)")
            }
            let text: String? = content.isNull ? nil : try self.text(content, param: "\(param).content")
            return .assistant(text: text, toolCalls: try toolCalls(object["tool_calls"], param: "\(param).tool_calls"))
        case "tool":
            guard let id = object["tool_call_id"]?.stringValue else {
                throw GatewayError.invalidRequest(
                    "'\(param).tool_call_id' must be a string.", param: "\(param).tool_call_id", code: "invalid_type")
            }
            return .tool(callID: id, content: try text(content, param: "\(param).content"), param: "\(param).tool_call_id")
        case "function":
            throw GatewayError.invalidRequest(
                "Messages with role 'function' are not supported for this model; use 'tool' messages.",
                param: "\(param).role", code: "unsupported_value")
        default:
            throw GatewayError.invalidRequest(
                "'\(role)' is not a valid message role.", param: "\(param).role", code: "invalid_value")
        }
    }

    /// A string, or an array of text parts joined with "\n" (system, assistant and tool content).
    private static func text(_ content: JSONValue, param: String) throws(GatewayError) -> String {
        if let text = content.stringValue { return text }
        guard let parts = content.arrayValue else {
            throw GatewayError.invalidRequest(
                "'\(param)' must be a string or an array of text parts.", param: param, code: "invalid_type")
        }
        var texts: [String] = []
        for (index, part) in parts.enumerated() {
            guard part["type"]?.stringValue == "text", let text = part["text"]?.stringValue else {
                throw GatewayError.invalidRequest(
                    "'\(param)[\(index)]' must be a text part for this message role.", param: "\(param)[\(index)]", code: "invalid_type")
            }
            texts.append(text)
        }
        return texts.joined(separator: "\n")
    }

    private static func userParts(_ content: JSONValue, param: String) throws(GatewayError) -> [Part] {
        if let text = content.stringValue { return [.text(text)] }
        guard let parts = content.arrayValue else {
            throw GatewayError.invalidRequest(
                "'\(param)' must be a string or an array of content parts.", param: param, code: "invalid_type")
        }
        var result: [Part] = []
        for (index, part) in parts.enumerated() {
            let partParam = "\(param)[\(index)]"
            switch part["type"]?.stringValue {
            case "text":
                guard let text = part["text"]?.stringValue else {
                    throw GatewayError.invalidRequest("'\(partParam).text' must be a string.", param: "\(partParam).text", code: "invalid_type")
                }
                result.append(.text(text))
            case "image_url":
                let urlParam = "\(partParam).image_url.url"
                guard let url = part["image_url"]?["url"]?.stringValue else {
                    throw GatewayError.invalidRequest("'\(urlParam)' must be a string.", param: urlParam, code: "invalid_type")
                }
                result.append(.image(try image(url, param: urlParam), param: urlParam))
            case let type?:
                // input_audio, file: neither adapter can pass them on.
                throw GatewayError.invalidRequest(
                    "Content parts of type '\(type)' are not supported for this model.", param: "\(partParam).type",
                    code: "unsupported_value")
            case nil:
                throw GatewayError.invalidRequest("'\(partParam).type' must be a string.", param: "\(partParam).type", code: "invalid_type")
            }
        }
        return result
    }

    /// `data:image/png;base64,AAAA` or an http(s) URL.
    static func image(_ url: String, param: String) throws(GatewayError) -> Image {
        let lowered = url.lowercased()
        if lowered.hasPrefix("http://") || lowered.hasPrefix("https://") { return .web(url) }
        guard lowered.hasPrefix("data:"), let comma = url.firstIndex(of: ",") else {
            throw GatewayError.invalidRequest(
                "'\(param)' must be an http(s) URL or a base64 data URL.", param: param, code: "invalid_value")
        }
        let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
        let attributes = header.split(separator: ";")
        guard attributes.count >= 2, attributes.last?.lowercased() == "base64", let mediaType = attributes.first, mediaType.contains("/") else {
            throw GatewayError.invalidRequest(
                "'\(param)' must be a base64 data URL (data:<media type>;base64,<data>).", param: param, code: "invalid_value")
        }
        return .inline(mediaType: String(mediaType), data: String(url[url.index(after: comma)...]))
    }

    private static func toolCalls(_ raw: JSONValue?, param: String) throws(GatewayError) -> [ToolCall] {
        guard let raw, !raw.isNull else { return [] }
        guard let calls = raw.arrayValue else {
            throw GatewayError.invalidRequest("'\(param)' must be an array.", param: param, code: "invalid_type")
        }
        var result: [ToolCall] = []
        for (index, call) in calls.enumerated() {
            let callParam = "\(param)[\(index)]"
            if let type = call["type"]?.stringValue, type != "function" {
                throw GatewayError.invalidRequest(
                    "Tool calls of type '\(type)' are not supported for this model.", param: "\(callParam).type", code: "unsupported_value")
            }
            guard let id = call["id"]?.stringValue else {
                throw GatewayError.invalidRequest("'\(callParam).id' must be a string.", param: "\(callParam).id", code: "invalid_type")
            }
            guard let name = call["function"]?["name"]?.stringValue else {
                throw GatewayError.invalidRequest(
                    "'\(callParam).function.name' must be a string.", param: "\(callParam).function.name", code: "invalid_type")
            }
            let argumentsParam = "\(callParam).function.arguments"
            guard let text = call["function"]?["arguments"]?.stringValue else {
                throw GatewayError.invalidRequest("'\(argumentsParam)' must be a string.", param: argumentsParam, code: "invalid_type")
            }
            // Some clients send "" for a function without parameters.
            let arguments: [String: JSONValue]
            if text.allSatisfy(\.isWhitespace) {
                arguments = [:]
            } else if let object = JSONValue(parsing: text)?.objectValue {
                arguments = object
            } else {
                throw GatewayError.invalidRequest(
                    "'\(argumentsParam)' must be a JSON object encoded as a string.", param: argumentsParam, code: "invalid_value")
            }
            result.append(ToolCall(id: id, name: name, arguments: arguments))
        }
        return result
    }

    // MARK: Parameters

    private static func number(_ fields: [String: JSONValue], _ name: String) throws(GatewayError) -> Double? {
        guard let value = fields[name], !value.isNull else { return nil }
        guard let number = value.doubleValue else {
            throw GatewayError.invalidRequest("'\(name)' must be a number.", param: name, code: "invalid_type")
        }
        return number
    }

    private static func integer(_ fields: [String: JSONValue], _ name: String) throws(GatewayError) -> Int? {
        guard let value = fields[name], !value.isNull else { return nil }
        guard let number = value.intValue else {
            throw GatewayError.invalidRequest("'\(name)' must be an integer.", param: name, code: "invalid_type")
        }
        return number
    }

    private static func stop(_ raw: JSONValue?) throws(GatewayError) -> [String]? {
        guard let raw, !raw.isNull else { return nil }
        if let single = raw.stringValue { return [single] }
        let invalid = GatewayError.invalidRequest("'stop' must be a string or an array of strings.", param: "stop", code: "invalid_type")
        guard let array = raw.arrayValue else { throw invalid }
        var result: [String] = []
        for item in array {
            guard let text = item.stringValue else { throw invalid }
            result.append(text)
        }
        return result
    }

    private static func tools(_ raw: JSONValue?) throws(GatewayError) -> [Tool] {
        guard let raw, !raw.isNull else { return [] }
        guard let array = raw.arrayValue else {
            throw GatewayError.invalidRequest("'tools' must be an array.", param: "tools", code: "invalid_type")
        }
        var result: [Tool] = []
        for (index, tool) in array.enumerated() {
            let param = "tools[\(index)]"
            guard tool["type"]?.stringValue == "function" else {
                throw GatewayError.invalidRequest(
                    "Only tools of type 'function' are supported for this model.", param: "\(param).type", code: "unsupported_value")
            }
            guard let function = tool["function"]?.objectValue, let name = function["name"]?.stringValue, !name.isEmpty else {
                throw GatewayError.invalidRequest(
                    "'\(param).function.name' must be a non-empty string.", param: "\(param).function.name", code: "invalid_type")
            }
            var description: String?
            if let raw = function["description"], !raw.isNull {
                guard let text = raw.stringValue else {
                    throw GatewayError.invalidRequest(
                        "'\(param).function.description' must be a string.", param: "\(param).function.description", code: "invalid_type")
                }
                description = text
            }
            var parameters: JSONValue?
            if let raw = function["parameters"], !raw.isNull {
                guard raw.objectValue != nil else {
                    throw GatewayError.invalidRequest(
                        "'\(param).function.parameters' must be a JSON schema object.", param: "\(param).function.parameters",
                        code: "invalid_type")
                }
                parameters = raw
            }
            result.append(Tool(name: name, description: description, parameters: parameters))
        }
        return result
    }

    private static func toolChoice(_ raw: JSONValue?) throws(GatewayError) -> ToolChoice? {
        guard let raw, !raw.isNull else { return nil }
        switch raw.stringValue {
        case "auto": return .auto
        case "none": return ToolChoice.none
        case "required": return .required
        case nil:
            if raw["type"]?.stringValue == "function", let name = raw["function"]?["name"]?.stringValue {
                return .named(name)
            }
        default: break
        }
        throw GatewayError.invalidRequest(
            "'tool_choice' must be \"auto\", \"none\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":...}}.",
            param: "tool_choice", code: "invalid_value")
    }

    private static func responseFormat(_ raw: JSONValue?) throws(GatewayError) -> ResponseFormat? {
        guard let raw, !raw.isNull else { return nil }
        switch raw["type"]?.stringValue {
        case "text": return .text
        case "json_object": return .jsonObject
        case "json_schema":
            guard let schema = raw["json_schema"]?["schema"], schema.objectValue != nil else {
                throw GatewayError.invalidRequest(
                    "'response_format.json_schema.schema' must be a JSON schema object.", param: "response_format.json_schema.schema",
                    code: "invalid_type")
            }
            return .jsonSchema(schema)
        default:
            throw GatewayError.invalidRequest(
                "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\".", param: "response_format.type",
                code: "invalid_value")
        }
    }

    static func unsupported(_ param: String) -> GatewayError {
        GatewayError.invalidRequest(
            "The parameter '\(param)' is not supported for this model.", param: param, code: "unsupported_parameter")
    }
}
