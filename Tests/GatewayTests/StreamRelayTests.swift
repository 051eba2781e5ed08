import NIOCore
import Testing

@testable import Gateway

@Suite("Stream relay")
struct StreamRelayTests {
    static let role = #"data: {"choices":[{"delta":{"role":"assistant","content":""},"index":0}],"usage":null}"# + "\n\n"
    static let text = #"data: {"choices":[{"delta":{"content":"Hi"},"index":0}],"usage":null}"# + "\n\n"
    static let usage = #"data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"# + "\n\n"
    static let done = "data: [DONE]\n\n"

    /// Feeds `stream` cut into pieces of `size` bytes and returns what would reach the client.
    func relay(_ stream: String, wantsUsage: Bool, size: Int) -> (String, StreamRelay) {
        var relay = StreamRelay(clientWantsUsage: wantsUsage)
        var out = ""
        let bytes = Array(stream.utf8)
        var index = 0
        while index < bytes.count {
            let piece = bytes[index..<min(index + size, bytes.count)]
            out += String(buffer: relay.process(ByteBuffer(bytes: piece)))
            index += size
        }
        return (out, relay)
    }

    @Test(arguments: [1, 7, 64, 10_000])
    func usageChunkIsStrippedWhenNotAsked(size: Int) {
        let stream = Self.role + Self.text + Self.usage + Self.done
        let (out, relay) = relay(stream, wantsUsage: false, size: size)
        #expect(out == Self.role + Self.text + Self.done)
        #expect(relay.usage == TokenUsage(promptTokens: 3, completionTokens: 2, totalTokens: 5))
        #expect(relay.dataEvents == 2)
        #expect(relay.sawDone)
    }

    @Test(arguments: [1, 64])
    func usageChunkIsKeptWhenAsked(size: Int) {
        let stream = Self.role + Self.text + Self.usage + Self.done
        let (out, relay) = relay(stream, wantsUsage: true, size: size)
        #expect(out == stream)
        #expect(relay.usage?.totalTokens == 5)
    }

    @Test func usageInsideAContentChunkIsReadButNeverDropped() {
        let chunk = #"data: {"choices":[{"delta":{"content":"x"},"index":0,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"# + "\n\n"
        let (out, relay) = relay(chunk + Self.done, wantsUsage: false, size: 5)
        #expect(out == chunk + Self.done)
        #expect(relay.usage?.totalTokens == 2)
    }

    @Test func completeOnlyWithDoneOrAFinishReason() {
        #expect(!relay(Self.role + Self.text, wantsUsage: false, size: 7).1.isComplete)
        #expect(relay(Self.role + Self.text + Self.done, wantsUsage: false, size: 7).1.isComplete)
        let finish = #"data: {"choices":[{"delta":{},"index":0,"finish_reason" : "length"}]}"# + "\n\n"
        #expect(relay(Self.role + finish, wantsUsage: false, size: 3).1.isComplete)
        // `null` is no finish, and the words inside content are not the member.
        let null = #"data: {"choices":[{"delta":{"content":"\"finish_reason\":\"stop\""},"index":0,"finish_reason":null}]}"# + "\n\n"
        #expect(!relay(Self.role + null, wantsUsage: false, size: 64).1.isComplete)
        // The upstream's own error event ends it: passed on, with nothing added after it.
        let error = #"data: {"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}"# + "\n\n"
        let (out, ended) = relay(Self.role + error, wantsUsage: false, size: 9)
        #expect(out == Self.role + error)
        #expect(ended.isComplete)
        #expect(ended.dataEvents == 1)
    }

    /// The code the log gets for an upstream's own error event: `code`, else `type`, else
    /// `upstream_error`; the event itself is relayed as it came.
    @Test(arguments: [
        (#"{"error":{"message":"boom","type":"server_error","code":"x"}}"#, "x"),
        (#"{"error":{"message":"boom","type":"server_error","param":null,"code":null}}"#, "server_error"),
        (#"{ "error" : {"type":"server_error"}}"#, "server_error"),
        (#"{"error":{"message":"boom","code":502}}"#, "502"),
        (#"{"error":{"message":"boom","code":"a\"b"}}"#, "a\"b"),
        (#"{"error":{"message":"boom","code":""}}"#, "upstream_error"),
        (#"{"error":"boom"}"#, "upstream_error"),
    ])
    func errorEventCode(payload: String, code: String) {
        let event = "data: \(payload)\n\n"
        let (out, relay) = relay(Self.role + event, wantsUsage: false, size: 5)
        #expect(out == Self.role + event)
        #expect(relay.relayedError == code)
        #expect(relay.isComplete)
        #expect(relay.dataEvents == 1)
    }

    /// What an error event says of the provider: rate limited or failing when its code or type
    /// is a known one (either may say it), nothing otherwise (the event is only relayed).
    @Test(arguments: [
        (#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#, UpstreamFailure.Kind.rateLimited),
        (#"{"error":{"message":"slow down","code":429}}"#, .rateLimited),
        (#"{"error":{"message":"boom","type":"server_error","code":"stream_error"}}"#, .serverError),
        (#"{"error":{"message":"bad gateway","code":502}}"#, .serverError),
        (#"{"error":{"type":"overloaded_error"}}"#, .serverError),
        (#"{"error":{"message":"no","type":"invalid_request_error","code":"context_length_exceeded"}}"#, nil),
        (#"{"error":"boom"}"#, nil),
    ] as [(String, UpstreamFailure.Kind?)])
    func errorEventKind(payload: String, kind: UpstreamFailure.Kind?) {
        let (_, relay) = relay("data: \(payload)\n\n", wantsUsage: false, size: 11)
        #expect(relay.relayedFailure == kind)
        #expect(relay.dataEvents == 0)
    }

    /// OpenRouter's mid-stream failure: a chunk with an `error` member beside `choices` and
    /// `"finish_reason":"error"`.
    @Test func openRouterErrorChunk() {
        let chunk = #"data: {"id":"c","choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}],"error":{"code":"server_error","message":"Provider disconnected"}}"# + "\n\n"
        let (out, relay) = relay(Self.role + chunk, wantsUsage: false, size: 64)
        #expect(out == Self.role + chunk)
        #expect(relay.relayedError == "server_error")
        #expect(relay.isComplete)
    }

    /// Content that mentions errors, and members named like it, are no error event.
    @Test func contentAboutErrorsIsNoErrorEvent() {
        let mentions = #"data: {"choices":[{"delta":{"content":"{\"error\": 1}"},"index":0,"finish_reason":"stop"}],"errors":null}"# + "\n\n"
        let (_, relay) = relay(Self.role + mentions + Self.done, wantsUsage: false, size: 7)
        #expect(relay.relayedError == nil)
        #expect(relay.dataEvents == 2)
    }

    @Test func crlfEventsAndPartialTail() {
        let stream = "data: {\"choices\":[]}\r\n\r\n: keep-alive\r\n\r\ndata: {\"cho"
        let (out, relay) = relay(stream, wantsUsage: false, size: 3)
        #expect(out == "data: {\"choices\":[]}\r\n\r\n: keep-alive\r\n\r\n")
        #expect(relay.remainder.map { String(buffer: $0) } == "data: {\"cho")
        #expect(relay.dataEvents == 1)
    }
}
