import Foundation
import HTTPTypes
import NIOCore
import Testing

@testable import Gateway

@Suite("Anthropic adapter")
struct AnthropicAdapterTests {
    typealias Support = AdapterTestSupport
    let adapter = AnthropicAdapter(now: { 1_700_000_000 })

    // MARK: Requests

    @Test func basicRequest() throws {
        let body = """
            {"model":"claude","messages":[
              {"role":"system","content":"Be brief."},
              {"role":"developer","content":[{"type":"text","text":"Answer in French."},{"type":"text","text":"Politely."}]},
              {"role":"user","content":"Hello"}],
             "max_completion_tokens":100,"max_tokens":50,"temperature":0.7,"top_p":0.9,"stop":"END","stream":true,
             "stream_options":{"include_usage":true},"user":"u-1","seed":7,"presence_penalty":0.5,"frequency_penalty":0.1,
             "logit_bias":{"50256":-100},"parallel_tool_calls":true,"service_tier":"auto","metadata":{"a":"b"},"n":1,"logprobs":false}
            """
        let request = try Support.translate(adapter, body, model: "claude-3-5-haiku-latest")
        #expect(request.path == "/v1/messages")
        #expect(request.headers(key: "sk-secret").map { "\($0.name): \($0.value)" } == [
            "x-api-key: sk-secret", "anthropic-version: 2023-06-01", "content-type: application/json",
        ])
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"model":"claude-3-5-haiku-latest","max_tokens":100,"system":"Be brief.\\n\\nAnswer in French.\\nPolitely.",
             "messages":[{"role":"user","content":"Hello"}],
             "temperature":0.7,"top_p":0.9,"stop_sequences":["END"],"stream":true}
            """))
    }

    @Test func defaultMaxTokensAndStopArray() throws {
        let body = #"{"model":"claude","messages":[{"role":"user","content":"Hi"}],"stop":["a","b"]}"#
        let request = try Support.translate(adapter, body, defaultMaxTokens: 1024)
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"model":"upstream-model","max_tokens":1024,"messages":[{"role":"user","content":"Hi"}],"stop_sequences":["a","b"]}
            """))
    }

    @Test func toolConversation() throws {
        let body = """
            {"model":"claude","max_tokens":200,"messages":[
              {"role":"system","content":"You are a weather bot."},
              {"role":"user","content":[
                {"type":"text","text":"Weather in these places?"},
                {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
                {"type":"image_url","image_url":{"url":"https://example.com/map.jpg","detail":"high"}}]},
              {"role":"assistant","content":"Let me check.","tool_calls":[
                {"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\",\\"days\\":2}"}},
                {"id":"toolu_2","type":"function","function":{"name":"get_time","arguments":""}}]},
              {"role":"tool","tool_call_id":"toolu_1","content":"sunny"},
              {"role":"tool","tool_call_id":"toolu_2","content":[{"type":"text","text":"12:00"}]},
              {"role":"user","content":"And tomorrow?"},
              {"role":"assistant","content":null,"tool_calls":[
                {"id":"toolu_3","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"toolu_3","content":"rain"}],
             "tools":[
              {"type":"function","function":{"name":"get_weather","description":"Weather for a city",
                "parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]},
                "strict":true}},
              {"type":"function","function":{"name":"get_time"}}],
             "tool_choice":{"type":"function","function":{"name":"get_weather"}}}
            """
        let request = try Support.translate(adapter, body, model: "claude-sonnet")
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"model":"claude-sonnet","max_tokens":200,"system":"You are a weather bot.",
             "messages":[
              {"role":"user","content":[
                {"type":"text","text":"Weather in these places?"},
                {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
                {"type":"image","source":{"type":"url","url":"https://example.com/map.jpg"}}]},
              {"role":"assistant","content":[
                {"type":"text","text":"Let me check."},
                {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris","days":2}},
                {"type":"tool_use","id":"toolu_2","name":"get_time","input":{}}]},
              {"role":"user","content":[
                {"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"},
                {"type":"tool_result","tool_use_id":"toolu_2","content":"12:00"},
                {"type":"text","text":"And tomorrow?"}]},
              {"role":"assistant","content":[{"type":"tool_use","id":"toolu_3","name":"get_weather","input":{}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_3","content":"rain"}]}],
             "tools":[
              {"name":"get_weather","description":"Weather for a city",
               "input_schema":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}},
              {"name":"get_time","input_schema":{"type":"object","properties":{}}}],
             "tool_choice":{"type":"tool","name":"get_weather"}}
            """))
    }

    @Test(arguments: [("\"auto\"", #"{"type":"auto"}"#), ("\"required\"", #"{"type":"any"}"#), ("\"none\"", #"{"type":"none"}"#)])
    func toolChoice(openAI: String, anthropic: String) throws {
        let body = """
            {"model":"claude","messages":[{"role":"user","content":"Hi"}],"tool_choice":\(openAI),
             "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}]}
            """
        let request = try Support.translate(adapter, body)
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"model":"upstream-model","max_tokens":4096,"messages":[{"role":"user","content":"Hi"}],"tool_choice":\(anthropic),
             "tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}]}
            """))
    }

    /// Anthropic requires alternating roles: same-role neighbours become one turn, and an
    /// assistant message with nothing in it is left out.
    @Test func consecutiveSameRoleMessagesAreMerged() throws {
        let body = """
            {"model":"claude","messages":[{"role":"user","content":"One"},{"role":"user","content":"Two"},
             {"role":"assistant","content":"A"},{"role":"assistant","content":""},{"role":"assistant","content":"B"},
             {"role":"system","content":"Late system."},{"role":"user","content":"Three"}]}
            """
        let request = try Support.translate(adapter, body)
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"model":"upstream-model","max_tokens":4096,"system":"Late system.","messages":[
              {"role":"user","content":[{"type":"text","text":"One"},{"type":"text","text":"Two"}]},
              {"role":"assistant","content":[{"type":"text","text":"A"},{"type":"text","text":"B"}]},
              {"role":"user","content":"Three"}]}
            """))
    }

    @Test(arguments: [
        (#""n":2"#, "n"),
        (#""logprobs":true"#, "logprobs"),
        (#""top_logprobs":2"#, "top_logprobs"),
        (#""response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}"#, "response_format"),
        (#""response_format":{"type":"json_object"}"#, "response_format"),
        (#""audio":{"voice":"alloy","format":"mp3"}"#, "audio"),
        (#""modalities":["text","audio"]"#, "modalities"),
        (#""prediction":{"type":"content","content":"x"}"#, "prediction"),
        (#""reasoning_effort":"low""#, "reasoning_effort"),
        (#""functions":[{"name":"f"}]"#, "functions"),
        (#""some_new_field":1"#, "some_new_field"),
        (#""temperature":1.5"#, "temperature"),
        (#""tool_choice":"sometimes""#, "tool_choice"),
        (#""tools":[{"type":"custom","custom":{"name":"x"}}]"#, "tools[0].type"),
    ])
    func unsupportedFieldsAreRefused(field: String, param: String) {
        let body = #"{"model":"claude","messages":[{"role":"user","content":"Hi"}],"# + field + "}"
        let error = Support.refusal(adapter, body)
        #expect(error?.status == .badRequest)
        #expect(error?.type == "invalid_request_error")
        #expect(error?.param == param)
    }

    @Test(arguments: [
        (#"{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{not json"}}]}"#,
         "messages[1].tool_calls[0].function.arguments"),
        (#"{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}"#,
         "messages[1].tool_calls[0].function.arguments"),
        (#"{"role":"tool","content":"x"}"#, "messages[1].tool_call_id"),
        (#"{"role":"function","name":"f","content":"x"}"#, "messages[1].role"),
        (#"{"role":"wizard","content":"x"}"#, "messages[1].role"),
        (#"{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}"#, "messages[1].content[0].type"),
        (#"{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}"#, "messages[1].content[0].image_url.url"),
        (#"{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}"#, "messages[1].content[0].image_url.url"),
        (#"{"role":"user","content":42}"#, "messages[1].content"),
        (#"{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}"#, "messages[1].content[0]"),
    ])
    func badMessagesAreRefused(message: String, param: String) {
        let body = #"{"model":"claude","messages":[{"role":"user","content":"Hi"},"# + message + "]}"
        let error = Support.refusal(adapter, body)
        #expect(error?.status == .badRequest)
        #expect(error?.param == param)
    }

    @Test func onlySystemMessagesAreRefused() {
        let error = Support.refusal(adapter, #"{"model":"claude","messages":[{"role":"system","content":"x"}]}"#)
        #expect(error?.param == "messages")
    }

    // MARK: Fixes: empty text, prefill, parallel tool calls, argument-less streamed calls

    /// Anthropic refuses empty text ("all messages must have non-empty content except for the
    /// optional final assistant message"): empty texts are left out, and so is a message left with
    /// nothing (its neighbours of one role merge).
    @Test func emptyTextsAreLeftOut() throws {
        let request = try Support.translate(adapter, Support.emptyTextsConversation(model: "claude"))
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"model":"upstream-model","max_tokens":4096,"messages":[{"role":"user","content":"Hi"},
              {"role":"assistant","content":[{"type":"text","text":"Hello"},{"type":"text","text":"Still here?"}]},
              {"role":"user","content":"Yes"}]}
            """))
    }

    @Test(arguments: Support.emptyFirstUserMessages)
    func emptyFirstUserMessageIsRefused(messages: String, param: String) {
        Support.expectEmptyFirstUserRefused(adapter, model: "claude", messages: messages, param: param)
    }

    /// "final assistant content cannot end with trailing whitespace": a prefill is trimmed.
    @Test func finalAssistantPrefillIsTrimmed() throws {
        let body = """
            {"model":"claude","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Well, \\n"},
             {"role":"user","content":"Go on"},{"role":"assistant","content":"The answer is \\t "}]}
            """
        let request = try Support.translate(adapter, body)
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"model":"upstream-model","max_tokens":4096,"messages":[{"role":"user","content":"Hi"},
              {"role":"assistant","content":"Well, \\n"},{"role":"user","content":"Go on"},
              {"role":"assistant","content":"The answer is"}]}
            """))
    }

    /// `parallel_tool_calls: false` → `disable_parallel_tool_use` on auto (the default when tools
    /// are sent), any and tool; `none` has no such field (no tool is called anyway).
    @Test(arguments: [
        ("", #","tool_choice":{"type":"auto","disable_parallel_tool_use":true}"#),
        (#","tool_choice":"auto""#, #","tool_choice":{"type":"auto","disable_parallel_tool_use":true}"#),
        (#","tool_choice":"required""#, #","tool_choice":{"type":"any","disable_parallel_tool_use":true}"#),
        (#","tool_choice":{"type":"function","function":{"name":"f"}}"#,
         #","tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true}"#),
        (#","tool_choice":"none""#, #","tool_choice":{"type":"none"}"#),
    ])
    func parallelToolCallsFalse(choice: String, anthropic: String) throws {
        let body = """
            {"model":"claude","messages":[{"role":"user","content":"Hi"}],"parallel_tool_calls":false\(choice),
             "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}]}
            """
        let request = try Support.translate(adapter, body)
        #expect(Support.canonical(request.body) == Support.canonical("""
            {"model":"upstream-model","max_tokens":4096,"messages":[{"role":"user","content":"Hi"}]\(anthropic),
             "tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}]}
            """))
    }

    @Test func parallelToolCallsWithoutToolsOrTrueChangeNothing() throws {
        for extra in [#""parallel_tool_calls":false"#, #""parallel_tool_calls":true,"tools":[{"type":"function","function":{"name":"f"}}]"#] {
            let request = try Support.translate(adapter, #"{"model":"claude","messages":[{"role":"user","content":"Hi"}],"# + extra + "}")
            #expect(!String(buffer: request.body).contains("tool_choice"))
        }
        #expect(Support.refusal(adapter, #"{"model":"c","messages":[{"role":"user","content":"Hi"}],"parallel_tool_calls":"no"}"#)?.param
            == "parallel_tool_calls")
    }

    /// A tool_use block without input deltas (a function without parameters) ends with "{}",
    /// as the non-streamed answer has it, not with empty arguments.
    @Test func streamedToolCallWithoutArguments() throws {
        let stream = """
            event: message_start
            data: {"type":"message_start","message":{"id":"msg_mock","usage":{"input_tokens":5,"output_tokens":1}}}

            event: content_block_start
            data: {"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_a","name":"now","input":{}}}

            event: content_block_delta
            data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}

            event: content_block_stop
            data: {"type":"content_block_stop","index":0}

            event: message_delta
            data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}


            """
        var translator = adapter.streamTranslator(model: "my-claude", includeUsage: false)
        let out = try Support.run(&translator, stream, size: 11)
        #expect(out == Support.sse([
            Self.chunk(#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"toolu_a","type":"function","function":{"name":"now","arguments":""}}]},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{},"finish_reason":"tool_calls"}"#),
        ]))
    }

    // MARK: Responses

    @Test func textResponse() throws {
        let upstream = """
            {"id":"msg_01","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022",
             "content":[{"type":"text","text":"Hello"},{"type":"text","text":" there"}],
             "stop_reason":"end_turn","stop_sequence":null,
             "usage":{"input_tokens":10,"output_tokens":5,"cache_creation_input_tokens":2,"cache_read_input_tokens":3}}
            """
        let (body, usage) = try adapter.response(ByteBuffer(string: upstream), model: "my-claude")
        #expect(Support.canonical(body) == Support.canonical("""
            {"id":"chatcmpl-msg_01","object":"chat.completion","created":1700000000,"model":"my-claude",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"},"finish_reason":"stop"}],
             "usage":{"prompt_tokens":15,"completion_tokens":5,"total_tokens":20,"prompt_tokens_details":{"cached_tokens":3}}}
            """))
        #expect(usage == TokenUsage(promptTokens: 15, completionTokens: 5, totalTokens: 20))
    }

    @Test func toolUseResponse() throws {
        let upstream = """
            {"id":"msg_02","type":"message","role":"assistant","model":"claude",
             "content":[{"type":"thinking","thinking":"hmm","signature":"s"},{"type":"text","text":"Checking."},
               {"type":"tool_use","id":"toolu_a","name":"get_weather","input":{"days":1,"city":"mock-city"}}],
             "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":9}}
            """
        let (body, usage) = try adapter.response(ByteBuffer(string: upstream), model: "m")
        #expect(Support.canonical(body) == Support.canonical("""
            {"id":"chatcmpl-msg_02","object":"chat.completion","created":1700000000,"model":"m",
             "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"Checking.",
               "tool_calls":[{"id":"toolu_a","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"mock-city\\",\\"days\\":1}"}}]}}],
             "usage":{"prompt_tokens":7,"completion_tokens":9,"total_tokens":16}}
            """))
        #expect(usage?.totalTokens == 16)
    }

    @Test func toolOnlyResponseHasNullContent() throws {
        let upstream = """
            {"id":"msg_mock","type":"message","role":"assistant","model":"claude",
             "content":[{"type":"tool_use","id":"toolu_mock_f","name":"f","input":{}}],
             "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}
            """
        let (body, _) = try adapter.response(ByteBuffer(string: upstream), model: "m")
        let json = Support.canonical(body)
        #expect(json.contains(#""message":{"content":null,"role":"assistant","tool_calls":[{"function":{"arguments":"{}","name":"f"},"id":"toolu_mock_f","type":"function"}]}"#))
    }

    @Test(arguments: [
        ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
        ("refusal", "content_filter"), ("pause_turn", "stop"),
    ])
    func stopReasons(anthropic: String, openAI: String) throws {
        let upstream = """
            {"id":"m","type":"message","role":"assistant","content":[{"type":"text","text":"x"}],"stop_reason":"\(anthropic)",
             "usage":{"input_tokens":1,"output_tokens":1}}
            """
        let (body, _) = try adapter.response(ByteBuffer(string: upstream), model: "m")
        #expect(Support.canonical(body).contains(#""finish_reason":"\#(openAI)""#))
    }

    @Test func unreadableResponseIsABadGateway() {
        #expect(throws: GatewayError.self) { try adapter.response(ByteBuffer(string: "<html>"), model: "m") }
        do {
            _ = try adapter.response(ByteBuffer(string: #"{"content":[]}"#), model: "m")
            Issue.record("expected an error")
        } catch {
            #expect(error.status == .badGateway)
            #expect(error.code == "upstream_invalid_response")
        }
    }

    // MARK: Streams

    /// What mock-provider sends for a text answer (with a keep-alive comment added).
    static let textStream = """
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_mock","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}

        event: ping
        data: {"type":"ping"}

        : keep-alive

        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Mock "}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"reply é\u{2028}"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":0}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}}

        event: message_stop
        data: {"type":"message_stop"}


        """

    static func chunk(_ choice: String) -> String {
        #"{"id":"chatcmpl-msg_mock","object":"chat.completion.chunk","created":1700000000,"model":"my-claude","choices":[\#(choice)]}"#
    }

    @Test(arguments: [1, 2, 7, 100_000])
    func textStream(size: Int) throws {
        var translator = adapter.streamTranslator(model: "my-claude", includeUsage: true)
        let out = try Support.run(&translator, Self.textStream, size: size)
        #expect(out == Support.sse([
            Self.chunk(#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"content":"Mock "},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"content":"reply é\#u{2028}"},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{},"finish_reason":"stop"}"#),
            #"{"id":"chatcmpl-msg_mock","object":"chat.completion.chunk","created":1700000000,"model":"my-claude","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
        ]))
        #expect(translator.usage == TokenUsage(promptTokens: 3, completionTokens: 4, totalTokens: 7))
        #expect(translator.dataEvents == 5)
    }

    @Test(arguments: [1, 13, 100_000])
    func toolStream(size: Int) throws {
        let stream = """
            event: message_start\r
            data: {"type":"message_start","message":{"id":"msg_mock","type":"message","role":"assistant","content":[],"usage":{"input_tokens":20,"output_tokens":1}}}\r
            \r
            event: content_block_start\r
            data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\r
            \r
            event: content_block_delta\r
            data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me look."}}\r
            \r
            event: content_block_start\r
            data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_a","name":"get_weather","input":{}}}\r
            \r
            event: content_block_delta\r
            data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}\r
            \r
            event: content_block_delta\r
            data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"city\\": "}}\r
            \r
            event: content_block_delta\r
            data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\\"Paris\\"}"}}\r
            \r
            event: content_block_stop\r
            data: {"type":"content_block_stop","index":1}\r
            \r
            event: content_block_start\r
            data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_b","name":"get_time","input":{}}}\r
            \r
            event: content_block_delta\r
            data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}\r
            \r
            event: message_delta\r
            data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}\r
            \r
            event: message_stop\r
            data: {"type":"message_stop"}\r
            \r

            """
        var translator = adapter.streamTranslator(model: "my-claude", includeUsage: false)
        let out = try Support.run(&translator, stream, size: size)
        #expect(out == Support.sse([
            Self.chunk(#"{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"content":"Let me look."},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"toolu_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": "}}]},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"tool_calls":[{"index":1,"id":"toolu_b","type":"function","function":{"name":"get_time","arguments":""}}]},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]},"finish_reason":null}"#),
            Self.chunk(#"{"index":0,"delta":{},"finish_reason":"tool_calls"}"#),
        ]))
        #expect(translator.usage == TokenUsage(promptTokens: 20, completionTokens: 30, totalTokens: 50))
    }

    @Test func errorEventThrows() throws {
        var translator = adapter.streamTranslator(model: "m", includeUsage: false)
        let start = Self.textStream.components(separatedBy: "event: ping")[0]
        _ = try translator.feed(ByteBuffer(string: start))
        do {
            _ = try translator.feed(ByteBuffer(string: """
                event: error
                data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}


                """))
            Issue.record("expected an error")
        } catch {
            #expect(error.status == .badGateway)
            #expect(error.type == "upstream_error")
            #expect(error.code == "overloaded_error")
            #expect(error.message == "Overloaded")
        }
    }

    @Test func garbageStreamThrows() {
        var translator = adapter.streamTranslator(model: "m", includeUsage: false)
        #expect(throws: GatewayError.self) { _ = try translator.feed(ByteBuffer(string: "data: <html>\n\n")) }
    }

    @Test func finishWithoutUsageIsJustDone() {
        var translator = adapter.streamTranslator(model: "m", includeUsage: true)
        #expect(String(buffer: translator.finish()) == "data: [DONE]\n\n")
        #expect(translator.usage == nil)
    }

    // MARK: Errors

    @Test func errorBodies() {
        let error = adapter.error(
            status: .notFound,
            body: ByteBuffer(string: #"{"type":"error","error":{"type":"not_found_error","message":"model: claude-9 (key sk-ant-api03-abcdefghijkl)"}}"#))
        #expect(error.status == .notFound)
        #expect(error.type == "invalid_request_error")
        #expect(error.code == "not_found_error")
        #expect(error.message == "model: claude-9 (key [redacted])")

        let limited = adapter.error(
            status: .tooManyRequests, body: ByteBuffer(string: #"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#))
        #expect(limited.type == "rate_limit_error")
        #expect(limited.code == "rate_limit_error")

        let unreadable = adapter.error(status: .init(code: 529), body: ByteBuffer(string: "overloaded"))
        #expect(unreadable.type == "server_error")
        #expect(unreadable.code == nil)
        #expect(unreadable.message == "The upstream provider 'anthropic' answered with status 529.")
    }
}
