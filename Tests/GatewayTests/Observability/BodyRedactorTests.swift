import Foundation
import KeyPool
import NIOCore
import Testing

@testable import Gateway

@Suite("Body redaction")
struct BodyRedactorTests {
    func redactor(logging: String = "{}") throws -> BodyRedactor {
        let json = """
            {"access_keys": ["access-secret-1", "access-secret-1-longer"], "logging": \(logging),
             "provider_keys": [{"provider": "openai", "key": ["sk-provider-secret-A", "sk-provider-secret-B"]}]}
            """
        return BodyRedactor(try GatewayConfig.parse(data: Data(json.utf8), environment: [:]).0)
    }

    func text(_ redactor: BodyRedactor, _ body: String) -> String {
        redactor.text(ByteBuffer(string: body))
    }

    @Test func configuredFieldsAreReplacedAtAnyDepthWithoutCase() throws {
        let out = text(try redactor(), #"{"model":"m","Password":"hunter2","meta":{"list":[{"TOKEN":"t-1","keep":1}]}}"#)
        // Keys come out sorted (Foundation sorts them without case).
        #expect(out == #"{"meta":{"list":[{"keep":1,"TOKEN":"[redacted]"}]},"model":"m","Password":"[redacted]"}"#)
    }

    @Test func secretsAreRemovedEvenInsideMessagesAndNonJSON() throws {
        let redactor = try redactor(logging: #"{"redact_fields": []}"#)
        let out = text(redactor, #"{"messages":[{"role":"user","content":"my key is sk-provider-secret-B ok"}]}"#)
        #expect(out == #"{"messages":[{"role":"user","content":"my key is [redacted] ok"}]}"#)
        #expect(text(redactor, "not json: access-secret-1-longer and access-secret-1")
            == "not json: [redacted] and [redacted]")  // the longer key goes whole, not as a prefix
    }

    @Test func truncationComesAfterTheScrub() throws {
        let redactor = try redactor(logging: #"{"max_body_bytes": 20}"#)
        // Cut first, the first 20 bytes would hold half of the key, which no scrub would find.
        let out = text(redactor, "0123456789sk-provider-secret-A tail")
        #expect(out == "0123456789[redacted]...[truncated]")
        #expect(!out.contains("sk-provider"))
    }

    @Test func truncationKeepsWholeCharacters() throws {
        let redactor = try redactor(logging: #"{"max_body_bytes": 4}"#)
        #expect(text(redactor, "abcé fin") == "abc...[truncated]")  // é is 2 bytes at offset 3
        #expect(text(redactor, "abcd") == "abcd")
    }
}
