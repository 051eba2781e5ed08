import Foundation
import HTTPTypes
import NIOCore
import Testing

@testable import Gateway

@Suite("Body rewriting")
struct BodyRewriterTests {
    func summary(_ json: String) throws -> ChatRequestSummary {
        try ChatRequestSummary.parse(ByteBuffer(string: json))
    }

    func rewrite(_ json: String, upstream: String? = nil) throws -> String {
        let parsed = try summary(json)
        return String(buffer: BodyRewriter.rewrite(ByteBuffer(string: json), summary: parsed, upstreamModel: upstream ?? parsed.model))
    }

    @Test func unchangedBodyIsForwardedByteForByte() throws {
        let body = #"{"model":"gpt-4o", "messages":[{"role":"user","content":"hi"}],"temperature":0.70,"x_custom":{"a":[1,2]}}"#
        #expect(try rewrite(body) == body)
    }

    @Test func modelRenameTouchesOnlyTheTopLevelModel() throws {
        // A nested "model" key and a message text mentioning "model" stay as they are.
        let body = #"{"messages":[{"role":"user","content":"the \"model\": \"x\" {["}],"metadata":{"model":"keep"},"model" : "cheap","tools":[]}"#
        let out = try rewrite(body, upstream: "openai/gpt-3.5-turbo")
        #expect(out == #"{"messages":[{"role":"user","content":"the \"model\": \"x\" {["}],"metadata":{"model":"keep"},"model" : "openai/gpt-3.5-turbo","tools":[]}"#)
    }

    @Test func streamingAsksForUsageWhenTheClientDidNot() throws {
        let body = #"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
        let out = try rewrite(body)
        #expect(out == #"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}"#)
        #expect(try summary(out).includeUsage)
    }

    @Test func streamOptionsAreEditedInPlaceKeepingOtherOptions() throws {
        let body = #"{"model":"m","stream":true,"stream_options":{"include_usage":false,"other":1},"messages":[{"role":"user","content":"hi"}]}"#
        let out = try rewrite(body)
        #expect(out == #"{"model":"m","stream":true,"stream_options":{"include_usage":true,"other":1},"messages":[{"role":"user","content":"hi"}]}"#)
    }

    @Test func clientThatAskedForUsageIsLeftAlone() throws {
        let body = #"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#
        #expect(try rewrite(body) == body)
    }

    @Test func renameAndUsageTogether() throws {
        let body = "{\n  \"model\": \"a\",\n  \"stream\": true,\n  \"messages\": [{\"role\":\"user\",\"content\":\"hi\"}]\n}\n"
        let out = try rewrite(body, upstream: "b/c")
        #expect(out == "{\n  \"model\": \"b/c\",\n  \"stream\": true,\n  \"messages\": [{\"role\":\"user\",\"content\":\"hi\"}]\n,\"stream_options\":{\"include_usage\":true}}\n")
        let reparsed = try summary(out)
        #expect(reparsed.model == "b/c" && reparsed.includeUsage)
    }
}

@Suite("Request validation")
struct ChatRequestSummaryTests {
    func problem(_ json: String) -> GatewayError? {
        do {
            _ = try ChatRequestSummary.parse(ByteBuffer(string: json))
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        ("{", "invalid_json", nil),
        ("[1]", nil, nil),
        (#"{"messages":[{"role":"user"}]}"#, "missing_required_parameter", "model"),
        (#"{"model":3,"messages":[{"role":"user"}]}"#, "invalid_type", "model"),
        (#"{"model":"","messages":[{"role":"user"}]}"#, "invalid_type", "model"),
        (#"{"model":"m"}"#, "missing_required_parameter", "messages"),
        (#"{"model":"m","messages":"hi"}"#, "invalid_type", "messages"),
        (#"{"model":"m","messages":["hi"]}"#, "invalid_type", "messages"),
        (#"{"model":"m","messages":[]}"#, "empty_array", "messages"),
        (#"{"model":"m","messages":[{}],"stream":"yes"}"#, "invalid_type", "stream"),
        (#"{"model":"m","messages":[{}],"max_tokens":1.5}"#, "invalid_type", "max_tokens"),
        (#"{"model":"m","messages":[{}],"max_tokens":0}"#, "invalid_value", "max_tokens"),
        (#"{"model":"m","messages":[{}],"stream_options":{"include_usage":"x"}}"#, "invalid_type", "stream_options.include_usage"),
        // Duplicates: JSONDecoder would route the first, an upstream would serve the last.
        (#"{"model":"cheap","model":"expensive","messages":[{}]}"#, "duplicate_parameter", "model"),
        (#"{"model":"cheap","mod\u0065l":"expensive","messages":[{}]}"#, "duplicate_parameter", "model"),
        (#"{"model":"m","messages":[{}],"stream":false,"stream":true}"#, "duplicate_parameter", "stream"),
        // Also inside stream_options, which the gateway reads (include_usage) and rewrites.
        (#"{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":true,"include_usage":false}}"#,
         "duplicate_parameter", "stream_options.include_usage"),
        (#"{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":false,"include_\u0075sage":true}}"#,
         "duplicate_parameter", "stream_options.include_usage"),
        (#"{"model":"m","messages":[{}],"stream_options":{"x":1,"include_usage":true,"x":2}}"#, "duplicate_parameter", "stream_options.x"),
    ] as [(String, String?, String?)])
    func malformedRequestsAre400s(json: String, code: String?, param: String?) throws {
        let error = try #require(problem(json))
        #expect(error.status == .badRequest)
        #expect(error.type == "invalid_request_error")
        #expect(error.code == code)
        #expect(error.param == param)
    }

    /// Bodies JSONDecoder reads (it never looks inside message contents) but RFC 8259 and the
    /// providers refuse: the gateway's own 400, never a forwarded request.
    @Test(arguments: [
        Array(#"{"model":"m","messages":[{"role":"user","content":"hi"}],}"#.utf8),
        Array(#"{"model":"m","messages":[{"role":"user","content":"hi"},]}"#.utf8),
        Array(#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":01}"#.utf8),
        Array(#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":00.5}"#.utf8),
        Array(#"{"model":"m","messages":[{"role":"user","content":"h"#.utf8) + [0x01] + Array(#"i"}]}"#.utf8),
        Array(#"{"model":"m","messages":[{"role":"user","content":"h"#.utf8) + [0xFF] + Array(#"i"}]}"#.utf8),
        Array(#"{"model":"m","messages":[{"role":"user","content":"h\qi"}]}"#.utf8),
    ])
    func jsonDecoderLeniencyIsInvalidJSON(body: [UInt8]) throws {
        let error = try #require(throws: GatewayError.self) { try ChatRequestSummary.parse(ByteBuffer(bytes: body)) }
        #expect(error.status == .badRequest)
        #expect((error.type, error.code, error.param) == ("invalid_request_error", "invalid_json", nil))
        #expect(error.message.contains("at offset"))
    }

    @Test func duplicatesInsideValuesAreFine() throws {
        let summary = try ChatRequestSummary.parse(ByteBuffer(string:
            #"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}],"x":{"model":1,"model":2}}"#))
        #expect(summary.model == "m")
    }

    @Test func readsWhatRoutingNeeds() throws {
        let summary = try ChatRequestSummary.parse(ByteBuffer(string:
            #"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":50,"max_completion_tokens":70,"stream":true,"stream_options":null}"#))
        #expect(summary.model == "m")
        #expect(summary.stream)
        #expect(summary.maxTokens == 70)
        #expect(!summary.includeUsage)
    }
}
