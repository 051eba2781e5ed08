import Foundation
import HTTPTypes
import NIOCore
import Testing

@testable import Gateway

@Suite("Gemini adapter")
struct GeminiAdapterTests {
    typealias Support = AdapterTestSupport
    let adapter = GeminiAdapter(now: { 1_700_000_000 })
    /// Fixed tool call ids, for exact answers.
    let signing = GeminiAdapter(now: { 1_700_000_000 }, callIDPrefix: { "call_t" })

    // MARK: Requests

    @Test(arguments: [
        ("gemini-2.0-flash", "/v1beta/models/gemini-2.0-flash:generateContent"),
        ("gemini-x/../../v1/files?key=1#f", "/v1beta/models/gemini-x%2F..%2F..%2Fv1%2Ffiles%3Fkey%3D1%23f:generateContent"),
        ("gemini-%2e%2e", "/v1beta/models/gemini-%252e%252e:generateContent"),
    ])
    func modelIsOnePathSegment(model: String, path: String) throws {
        let request = try Support.translate(adapter, #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#, model: model)
        #expect(request.path == path)
    }

    @Test func basicRequest() throws {
        let body = """
            {"model":"gemini","messages":[
              {"role":"system","content":"Be brief."},
              {"role":"developer","content":"Answer in French."},
              {"role":"user","content":"Hello"}],
             "max_tokens":50,"temperature":0.7,"top_p":0.9,"stop":["END"],"n":2,
             "response_format":{"type":"json_object"},"user":"u-1","seed":7,"presence_penalty":0.5,"stream_options":null}
            """
        let request = try Support.translate(adapter, body, model: "gemini-2.0-flash")
        #expect(request.path == "/v1beta/models/gemini-2.0-flash:generateContent")
        #expect(request.headers(key: "sk-secret").map { "\($0.name): \($0.value)" } == ["x-goog-api-key: sk-secret", "content-type: application/json"])
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"contents":[{"role":"user","parts":[{"text":"Hello"}]}],
             "systemInstruction":{"parts":[{"text":"Be brief.\\n\\nAnswer in French."}]},
             "generationConfig":{"temperature":0.7,"topP":0.9,"maxOutputTokens":50,"stopSequences":["END"],"candidateCount":2,
               "responseMimeType":"application/json","seed":7,"presencePenalty":0.5}}
            """))
    }

    @Test func streamingRequestWithoutGenerationConfig() throws {
        let body = #"{"model":"gemini","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}"#
        let request = try Support.translate(adapter, body, model: "gemini-2.0-flash")
        #expect(request.path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse")
        #expect(Support.canonical(request.body) == Support.canonical(#"{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}"#))
    }

    @Test func jsonSchemaResponseFormat() throws {
        let body = """
            {"model":"gemini","messages":[{"role":"user","content":"Hi"}],"max_completion_tokens":10,
             "response_format":{"type":"json_schema","json_schema":{"name":"answer","strict":true,
               "schema":{"type":"object","properties":{"answer":{"$ref":"#/$defs/A"}},"required":["answer"],
                 "additionalProperties":false,"$defs":{"A":{"type":"string"}}}}}}
            """
        let request = try Support.translate(adapter, body)
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"contents":[{"role":"user","parts":[{"text":"Hi"}]}],
             "generationConfig":{"maxOutputTokens":10,"responseMimeType":"application/json",
               "responseJsonSchema":{"type":"object","properties":{"answer":{"$ref":"#/$defs/A"}},"required":["answer"],
                 "additionalProperties":false,"$defs":{"A":{"type":"string"}}}}}
            """))
    }

    @Test func toolConversation() throws {
        let body = """
            {"model":"gemini","messages":[
              {"role":"user","content":[
                {"type":"text","text":"Weather here?"},
                {"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}}]},
              {"role":"assistant","content":"Let me check.","tool_calls":[
                {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\",\\"days\\":2}"}},
                {"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"call_a","content":"{\\"sky\\":\\"sunny\\",\\"temp\\":21.5}"},
              {"role":"tool","tool_call_id":"call_b","content":"12:00"},
              {"role":"user","content":"Thanks"}],
             "tools":[
              {"type":"function","function":{"name":"get_weather","description":"Weather for a city",
                "parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}}},
              {"type":"function","function":{"name":"get_time"}}],
             "tool_choice":{"type":"function","function":{"name":"get_weather"}},"parallel_tool_calls":false}
            """
        let request = try Support.translate(adapter, body)
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"contents":[
              {"role":"user","parts":[{"text":"Weather here?"},{"inlineData":{"mimeType":"image/jpeg","data":"/9j/4AAQ"}}]},
              {"role":"model","parts":[{"text":"Let me check."},
                {"functionCall":{"name":"get_weather","args":{"city":"Paris","days":2}}},
                {"functionCall":{"name":"get_time","args":{}}}]},
              {"role":"user","parts":[
                {"functionResponse":{"name":"get_weather","response":{"result":{"sky":"sunny","temp":21.5}}}},
                {"functionResponse":{"name":"get_time","response":{"result":"12:00"}}},
                {"text":"Thanks"}]}],
             "tools":[{"functionDeclarations":[
               {"name":"get_weather","description":"Weather for a city",
                "parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}},
               {"name":"get_time"}]}],
             "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}}
            """))
    }

    @Test(arguments: [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")])
    func toolChoice(openAI: String, mode: String) throws {
        let body = """
            {"model":"gemini","messages":[{"role":"user","content":"Hi"}],"tool_choice":"\(openAI)",
             "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}]}
            """
        let request = try Support.translate(adapter, body)
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"contents":[{"role":"user","parts":[{"text":"Hi"}]}],"toolConfig":{"functionCallingConfig":{"mode":"\(mode)"}},
             "tools":[{"functionDeclarations":[{"name":"f","parametersJsonSchema":{"type":"object","properties":{}}}]}]}
            """))
    }

    @Test func consecutiveSameRoleMessagesAreMerged() throws {
        let body = """
            {"model":"gemini","messages":[{"role":"user","content":"One"},{"role":"user","content":"Two"},
             {"role":"assistant","content":"A"},{"role":"assistant","content":null},{"role":"assistant","content":"B"}]}
            """
        let request = try Support.translate(adapter, body)
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"contents":[{"role":"user","parts":[{"text":"One"},{"text":"Two"}]},{"role":"model","parts":[{"text":"A"},{"text":"B"}]}]}
            """))
    }

    @Test(arguments: [
        (#""logprobs":true"#, "logprobs"),
        (#""top_logprobs":1"#, "top_logprobs"),
        (#""audio":{"voice":"alloy","format":"mp3"}"#, "audio"),
        (#""reasoning_effort":"high""#, "reasoning_effort"),
        (#""function_call":"auto""#, "function_call"),
        (#""web_search_options":{}"#, "web_search_options"),
        (#""n":0"#, "n"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"x"}}"#, "response_format.json_schema.schema"),
        (#""response_format":{"type":"yaml"}"#, "response_format.type"),
        (#""stop":[1]"#, "stop"),
        (#""temperature":"hot""#, "temperature"),
    ])
    func unsupportedFieldsAreRefused(field: String, param: String) {
        let body = #"{"model":"gemini","messages":[{"role":"user","content":"Hi"}],"# + field + "}"
        let error = Support.refusal(adapter, body)
        #expect(error?.status == .badRequest)
        #expect(error?.param == param)
    }

    @Test(arguments: [
        (#"{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}"#,
         "messages[1].content[0].image_url.url"),
        (#"{"role":"tool","tool_call_id":"call_unknown","content":"x"}"#, "messages[1].tool_call_id"),
        (#"{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"nope"}}]}"#,
         "messages[1].tool_calls[0].function.arguments"),
    ])
    func badMessagesAreRefused(message: String, param: String) {
        let body = #"{"model":"gemini","messages":[{"role":"user","content":"Hi"},"# + message + "]}"
        let error = Support.refusal(adapter, body)
        #expect(error?.status == .badRequest)
        #expect(error?.param == param)
    }

    // MARK: Responses

    @Test func textResponse() throws {
        let upstream = """
            {"candidates":[{"content":{"role":"model","parts":[{"text":"thinking...","thought":true},{"text":"Hello"},{"text":" there"}]},
              "finishReason":"STOP","index":0}],
             "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":2,"totalTokenCount":17,
               "cachedContentTokenCount":4},
             "modelVersion":"gemini-2.0-flash","responseId":"abc123"}
            """
        let (body, usage) = try adapter.response(ByteBuffer(string: upstream), model: "my-gemini")
        #expect(Support.canonical(body) == Support.canonical("""
            {"id":"chatcmpl-abc123","object":"chat.completion","created":1700000000,"model":"my-gemini",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],
             "usage":{"prompt_tokens":10,"completion_tokens":7,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":4}}}
            """))
        #expect(usage == TokenUsage(promptTokens: 10, completionTokens: 7, totalTokens: 17))
    }

    @Test func functionCallResponse() throws {
        let upstream = """
            {"candidates":[{"content":{"role":"model","parts":[
                {"functionCall":{"name":"get_weather","args":{"days":1,"city":"mock-city"}}},
                {"functionCall":{"name":"get_time"}}]},
              "finishReason":"STOP","index":0}],
             "usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":8,"totalTokenCount":11},"responseId":"mock"}
            """
        let (body, _) = try signing.response(ByteBuffer(string: upstream), model: "m")
        #expect(Support.canonical(body) == Support.canonical("""
            {"id":"chatcmpl-mock","object":"chat.completion","created":1700000000,"model":"m",
             "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[
               {"id":"call_t_0","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"mock-city\\",\\"days\\":1}"}},
               {"id":"call_t_1","type":"function","function":{"name":"get_time","arguments":"{}"}}]}}],
             "usage":{"prompt_tokens":3,"completion_tokens":8,"total_tokens":11}}
            """))
    }

    @Test func severalCandidates() throws {
        let upstream = """
            {"candidates":[
              {"content":{"role":"model","parts":[{"text":"A"}]},"finishReason":"MAX_TOKENS","index":0},
              {"content":{"role":"model","parts":[{"text":"B"}]},"finishReason":"SAFETY","index":1},
              {"finishReason":"RECITATION","index":2}],
             "responseId":"r"}
            """
        let (body, usage) = try adapter.response(ByteBuffer(string: upstream), model: "m")
        #expect(Support.canonical(body) == Support.canonical("""
            {"id":"chatcmpl-r","object":"chat.completion","created":1700000000,"model":"m","choices":[
              {"index":0,"message":{"role":"assistant","content":"A"},"finish_reason":"length"},
              {"index":1,"message":{"role":"assistant","content":"B"},"finish_reason":"content_filter"},
              {"index":2,"message":{"role":"assistant","content":null},"finish_reason":"content_filter"}]}
            """))
        #expect(usage == nil)
    }

    @Test func blockedPrompt() throws {
        let upstream = """
            {"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[]},
             "usageMetadata":{"promptTokenCount":4,"totalTokenCount":4},"responseId":"blocked"}
            """
        let (body, usage) = try adapter.response(ByteBuffer(string: upstream), model: "m")
        #expect(Support.canonical(body) == Support.canonical("""
            {"id":"chatcmpl-blocked","object":"chat.completion","created":1700000000,"model":"m",
             "choices":[{"index":0,"message":{"role":"assistant","content":null},"finish_reason":"content_filter"}],
             "usage":{"prompt_tokens":4,"completion_tokens":0,"total_tokens":4}}
            """))
        #expect(usage?.promptTokens == 4)
    }

    @Test(arguments: [("STOP", "stop"), ("MAX_TOKENS", "length"), ("BLOCKLIST", "content_filter"),
                      ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"), ("OTHER", "stop"),
                      ("FINISH_REASON_UNSPECIFIED", "stop"), ("MALFORMED_FUNCTION_CALL", "error"),
                      ("UNEXPECTED_TOOL_CALL", "error"), ("TOO_MANY_TOOL_CALLS", "error"),
                      ("IMAGE_PROHIBITED_CONTENT", "content_filter")])
    func finishReasons(gemini: String, openAI: String) throws {
        let upstream = #"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"\#(gemini)"}]}"#
        let (body, _) = try adapter.response(ByteBuffer(string: upstream), model: "m")
        #expect(Support.canonical(body).contains(#""finish_reason":"\#(openAI)""#))
    }

    @Test func unreadableResponse() {
        do {
            _ = try adapter.response(ByteBuffer(string: #"{"unexpected":true}"#), model: "m")
            Issue.record("expected an error")
        } catch {
            #expect(error.status == .badGateway)
        }
    }

    // MARK: Streams

    static func chunk(_ choice: String, id: String = "mock") -> String {
        #"{"id":"chatcmpl-\#(id)","object":"chat.completion.chunk","created":1700000000,"model":"my-gemini","choices":[\#(choice)]}"#
    }

    /// What mock-provider sends for a text answer (`\r\n\r\n` after each event).
    static let textStream =
        #"data: {"candidates":[{"content":{"parts":[{"text":"Mock "}],"role":"model"},"index":0}],"modelVersion":"gemini-2.0-flash","responseId":"mock"}"#
        + "\r\n\r\n"
        + #"data: {"candidates":[{"content":{"parts":[{"text":"reply ✓"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.0-flash","responseId":"mock"}"#
        + "\r\n\r\n"
        + #"data: {"candidates":[{"content":{"parts":[{"text":"!"}],"role":"model"},"finishReason":"STOP","index":0}],"modelVersion":"gemini-2.0-flash","responseId":"mock","usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":4,"totalTokenCount":6}}"#
        + "\r\n\r\n"

    @Test(arguments: [1, 5, 100_000])
    func textStream(size: Int) throws {
        var translator = adapter.streamTranslator(model: "my-gemini", includeUsage: true)
        let out = try Support.run(&translator, Self.textStream, size: size)
        #expect(out == Support.sse([
            Self.chunk(#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"content":"Mock "},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"content":"reply ✓"},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"content":"!"},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{},"finish_reason":"stop"}"#),
            #"{"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1700000000,"model":"my-gemini","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":4,"total_tokens":6}}"#,
        ]))
        #expect(translator.usage == TokenUsage(promptTokens: 2, completionTokens: 4, totalTokens: 6))
        #expect(translator.dataEvents == 6)
    }

    @Test(arguments: [3, 100_000])
    func functionCallStream(size: Int) throws {
        let stream =
            #"data: {"candidates":[{"content":{"parts":[{"text":"Checking. "}],"role":"model"},"index":0}],"responseId":"r1"}"#
            + "\n\n"
            + #"data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},{"functionCall":{"name":"get_time","args":{}}}],"role":"model"},"finishReason":"STOP","index":0}],"responseId":"r1","usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":7,"totalTokenCount":12}}"#
            + "\n\n"
        var translator = signing.streamTranslator(model: "my-gemini", includeUsage: false)
        let out = try Support.run(&translator, stream, size: size)
        #expect(out == Support.sse([
            Self.chunk(#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#, id: "r1"),
            Self.chunk(#"{"index":0,"delta":{"content":"Checking. "},"finish_reason":null}"#, id: "r1"),
            Self.chunk(#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_t_0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":null}"#, id: "r1"),
            Self.chunk(#"{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_t_1","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}"#, id: "r1"),
            Self.chunk(#"{"index":0,"delta":{},"finish_reason":"tool_calls"}"#, id: "r1"),
        ]))
        #expect(translator.usage?.totalTokens == 12)
    }

    /// `n: 2` → `candidateCount: 2`: each candidate is a choice with its own role and finish chunks.
    @Test func twoCandidateStream() throws {
        let stream =
            #"data: {"candidates":[{"content":{"parts":[{"text":"A"}],"role":"model"},"index":0},{"content":{"parts":[{"text":"B"}],"role":"model"},"index":1}],"responseId":"two"}"#
            + "\r\n\r\n"
            + #"data: {"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0},{"content":{"parts":[{"text":"!"}],"role":"model"},"finishReason":"MAX_TOKENS","index":1}],"responseId":"two"}"#
            + "\r\n\r\n"
        var translator = adapter.streamTranslator(model: "my-gemini", includeUsage: true)
        let out = try Support.run(&translator, stream, size: 9)
        #expect(out == Support.sse([
            Self.chunk(#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#, id: "two"),
            Self.chunk(#"{"index":0,"delta":{"content":"A"},"finish_reason":null}"#, id: "two"),
            Self.chunk(#"{"index":1,"delta":{"role":"assistant","content":""},"finish_reason":null}"#, id: "two"),
            Self.chunk(#"{"index":1,"delta":{"content":"B"},"finish_reason":null}"#, id: "two"),
            Self.chunk(#"{"index":0,"delta":{},"finish_reason":"stop"}"#, id: "two"),
            Self.chunk(#"{"index":1,"delta":{"content":"!"},"finish_reason":null}"#, id: "two"),
            Self.chunk(#"{"index":1,"delta":{},"finish_reason":"length"}"#, id: "two"),
        ]))
        #expect(translator.usage == nil)
    }

    @Test func blockedPromptStream() throws {
        let stream = #"data: {"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":3,"totalTokenCount":3},"responseId":"b"}"# + "\r\n\r\n"
        var translator = adapter.streamTranslator(model: "my-gemini", includeUsage: false)
        let out = try Support.run(&translator, stream, size: 1000)
        #expect(out == Support.sse([
            Self.chunk(#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#, id: "b"),
            Self.chunk(#"{"index":0,"delta":{},"finish_reason":"content_filter"}"#, id: "b"),
        ]))
    }

    @Test func errorEventThrows() {
        var translator = adapter.streamTranslator(model: "m", includeUsage: false)
        do {
            _ = try translator.feed(ByteBuffer(string: #"data: {"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"# + "\r\n\r\n"))
            Issue.record("expected an error")
        } catch {
            #expect(error.status == .badGateway)
            #expect(error.type == "upstream_error")
            #expect(error.code == "UNAVAILABLE")
            #expect(error.message == "The model is overloaded.")
        }
    }

    @Test func garbageStreamThrows() {
        var translator = adapter.streamTranslator(model: "m", includeUsage: false)
        #expect(throws: GatewayError.self) { _ = try translator.feed(ByteBuffer(string: "data: [1,2\n\n")) }
    }

    // MARK: Thought signatures and tool call ids

    /// Gemini 3 signs function calls (the first of a parallel batch only); the signature rides in
    /// the tool call id, base64url, so that OpenAI clients hand it back unknowingly.
    @Test func functionCallSignaturesGoInTheToolCallIDs() throws {
        let upstream = """
            {"candidates":[{"content":{"role":"model","parts":[
                {"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"Cg+x/yz="},
                {"functionCall":{"name":"get_time","args":{}}}]},
              "finishReason":"STOP","index":0}],"responseId":"sig"}
            """
        let (body, _) = try signing.response(ByteBuffer(string: upstream), model: "m")
        #expect(Support.canonical(body) == Support.canonical("""
            {"id":"chatcmpl-sig","object":"chat.completion","created":1700000000,"model":"m",
             "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[
               {"id":"call_t_0__thought__Cg-x_yz","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}},
               {"id":"call_t_1","type":"function","function":{"name":"get_time","arguments":"{}"}}]}}]}
            """))
    }

    @Test func streamedFunctionCallSignaturesGoInTheToolCallIDs() throws {
        let stream =
            #"data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"AB+/"}],"role":"model"},"finishReason":"STOP","index":0}],"responseId":"s"}"#
            + "\r\n\r\n"
        var translator = signing.streamTranslator(model: "my-gemini", includeUsage: false)
        let out = try Support.run(&translator, stream, size: 7)
        #expect(out == Support.sse([
            Self.chunk(#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#, id: "s"),
            Self.chunk(#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_t_0__thought__AB-_","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}"#, id: "s"),
            Self.chunk(#"{"index":0,"delta":{},"finish_reason":"tool_calls"}"#, id: "s"),
        ]))
    }

    /// The signature comes back out of the id onto its functionCall part; a step whose first call
    /// has none (history from another provider) gets Google's documented bypass value on Gemini 3.
    @Test(arguments: [
        ("gemini-3-pro-preview", #","thoughtSignature":"c2tpcF90aG91Z2h0X3NpZ25hdHVyZV92YWxpZGF0b3I=""#),
        ("gemini-2.5-flash", ""),
    ])
    func signaturesGoBackOnTheirFunctionCalls(model: String, fallback: String) throws {
        let body = """
            {"model":"gemini","messages":[
              {"role":"user","content":"Weather?"},
              {"role":"assistant","tool_calls":[
                {"id":"call_t_0__thought__Cg-x_yz","type":"function","function":{"name":"get_weather","arguments":"{}"}},
                {"id":"call_t_1","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"call_t_0__thought__Cg-x_yz","content":"sunny"},
              {"role":"tool","tool_call_id":"call_t_1","content":"noon"},
              {"role":"assistant","tool_calls":[{"id":"toolu_01A","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"toolu_01A","content":"one"}]}
            """
        let request = try Support.translate(adapter, body, model: model)
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"contents":[
              {"role":"user","parts":[{"text":"Weather?"}]},
              {"role":"model","parts":[
                {"functionCall":{"name":"get_weather","args":{}},"thoughtSignature":"Cg+x/yz="},
                {"functionCall":{"name":"get_time","args":{}}}]},
              {"role":"user","parts":[
                {"functionResponse":{"name":"get_weather","response":{"result":"sunny"}}},
                {"functionResponse":{"name":"get_time","response":{"result":"noon"}}}]},
              {"role":"model","parts":[{"functionCall":{"name":"get_time","args":{}}\(fallback)}]},
              {"role":"user","parts":[{"functionResponse":{"name":"get_time","response":{"result":"one"}}}]}]}
            """))
    }

    /// Anthropic refuses a conversation whose tool_use ids repeat ("tool_use ids must be unique"),
    /// and auto-model can carry a Gemini conversation there: two answers never share an id.
    @Test func toolCallIDsAreUniqueAcrossAnswers() throws {
        let upstream = #"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]},"finishReason":"STOP"}]}"#
        var ids: Set<String> = []
        for _ in 0..<2 {
            let (body, _) = try adapter.response(ByteBuffer(string: upstream), model: "m")
            let answer = try JSONDecoder().decode(JSONValue.self, from: Data(String(buffer: body).utf8))
            let call = answer["choices"]?.arrayValue?.first?["message"]?["tool_calls"]?.arrayValue?.first
            let value = try #require(call?["id"]?.stringValue)
            #expect(value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
            ids.insert(value)
        }
        #expect(ids.count == 2)
    }

    // MARK: Fixes: empty text, sampling members

    /// Gemini refuses an empty text part: empty texts are left out, and so is a message left
    /// with nothing (its neighbours of one role merge).
    @Test func emptyTextsAreLeftOut() throws {
        let request = try Support.translate(adapter, Support.emptyTextsConversation(model: "gemini"))
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"contents":[{"role":"user","parts":[{"text":"Hi"}]},{"role":"model","parts":[{"text":"Hello"},{"text":"Still here?"}]},
              {"role":"user","parts":[{"text":"Yes"}]}]}
            """))
    }

    @Test(arguments: Support.emptyFirstUserMessages)
    func emptyFirstUserMessageIsRefused(messages: String, param: String) {
        Support.expectEmptyFirstUserRefused(adapter, model: "gemini", messages: messages, param: param)
    }

    @Test func seedAndPenaltiesAreTranslated() throws {
        let body = """
            {"model":"gemini","messages":[{"role":"user","content":"Hi"}],"seed":42,"presence_penalty":0.5,"frequency_penalty":-0.25}
            """
        let request = try Support.translate(adapter, body)
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"contents":[{"role":"user","parts":[{"text":"Hi"}]}],
             "generationConfig":{"seed":42,"presencePenalty":0.5,"frequencyPenalty":-0.25}}
            """))
    }

    // MARK: Errors

    @Test func errorBodies() {
        let error = adapter.error(
            status: .badRequest,
            body: ByteBuffer(string: #"{"error":{"code":400,"message":"API key not valid: AIzaSyA-1234567890abcdefghijklmnop","status":"INVALID_ARGUMENT"}}"#))
        #expect(error.status == .badRequest)
        #expect(error.type == "invalid_request_error")
        #expect(error.code == "INVALID_ARGUMENT")
        #expect(error.message == "API key not valid: [redacted]")

        let array = adapter.error(
            status: .notFound, body: ByteBuffer(string: #"[{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}]"#))
        #expect(array.code == "NOT_FOUND")
        #expect(array.message == "models/x is not found")

        let unreadable = adapter.error(status: .serviceUnavailable, body: ByteBuffer(string: ""))
        #expect(unreadable.type == "server_error")
        #expect(unreadable.code == nil)
    }
}
