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

    @Test func crlfEventsAndPartialTail() {
        let stream = "data: {\"choices\":[]}\r\n\r\n: keep-alive\r\n\r\ndata: {\"cho"
        let (out, relay) = relay(stream, wantsUsage: false, size: 3)
        #expect(out == "data: {\"choices\":[]}\r\n\r\n: keep-alive\r\n\r\n")
        #expect(relay.remainder.map { String(buffer: $0) } == "data: {\"cho")
        #expect(relay.dataEvents == 1)
    }
}
