import NIOCore
import Testing

@testable import Gateway

@Suite("SSE comments before a stream's first event")
struct SSECommentsTests {
    @Test("comment-only text, with LF, CRLF or CR line ends", arguments: [
        ": keep-alive\n\n", ": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n", ":\r\n\r\n", ": a\r: b\r\r", "\n",
    ])
    func commentsOnly(_ text: String) {
        #expect(SSEComments.only(ByteBuffer(string: text)))
    }

    @Test("anything with a field line is an event", arguments: [
        "data: {}\n\n", ": keep-alive\n\ndata: {}\n\n", ": x\r\ndata: [DONE]\r\n\r\n", "event: ping\n\n", ": a\rdata: b\r\r", "d",
    ])
    func events(_ text: String) {
        #expect(!SSEComments.only(ByteBuffer(string: text)))
    }
}
