import KeyPool
import Testing

@testable import Gateway

@Suite("Token usage of an answer")
struct TokenUsageTests {
    func of(_ text: String) -> (usage: TokenUsage?, hasChoices: Bool?) {
        Array(text.utf8).withUnsafeBytes { TokenUsage.of($0) }
    }

    @Test func readsTheTopLevelUsageOfAnAnswer() {
        let answer = """
            {"id":"c-1","choices":[{"index":0,"message":{"role":"assistant","content":"a \\"usage\\": {} b",
             "usage":{"prompt_tokens":999}}}],
             "usage" : {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42, "prompt_tokens_details": {"cached_tokens": 0}}}
            """
        let (usage, hasChoices) = of(answer)
        #expect(usage == TokenUsage(promptTokens: 12, completionTokens: 30, totalTokens: 42))
        #expect(hasChoices == true)
    }

    @Test func aMissingTotalIsTheSum() {
        #expect(of(#"{"usage":{"prompt_tokens":2,"completion_tokens":3}}"#).usage == TokenUsage(promptTokens: 2, completionTokens: 3, totalTokens: 5))
    }

    @Test func hugeCountsAreBoundedNotATrap() {
        // prompt + completion near Int.max once trapped: the process down with every request.
        let usage = of(#"{"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":1}}"#).usage
        let cap = TokenCount.maxPerRequest
        #expect(usage == TokenUsage(promptTokens: cap, completionTokens: 1, totalTokens: cap))
    }

    @Test func aUsageOnlyChunkHasNoChoices() {
        let (usage, hasChoices) = of(#"{"id":"c","choices":[ ],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#)
        #expect(usage?.totalTokens == 2)
        #expect(hasChoices == false)
    }

    @Test func nullCountsAreZeroAndNestedDetailsAreSkipped() {
        let answer = #"{"usage":{"prompt_tokens_details":{"cached_tokens":7,"prompt_tokens":5},"prompt_tokens":4,"completion_tokens":null}}"#
        #expect(of(answer).usage == TokenUsage(promptTokens: 4, completionTokens: 0, totalTokens: 4))
    }

    @Test(arguments: [
        #"{"choices":[],"usage":null}"#,
        #"{"usage":{"prompt_tokens":1.5}}"#,
        #"{"usage":{"prompt_tokens":+1}}"#,
        #"{"usage":{"prompt_tokens":-1}}"#,
        #"{"usage":{"prompt_tokens":1 2}}"#,
        #"{"usage":{"prompt_tokens":true}}"#,
        #"{"usage":[1,2]}"#,
        #"{"choices":[]}"#,
        #"{"usage":{"prompt_tokens":"12"}}"#,
        #"{"usage":{"prompt_tokens":12"#,
        #"{"usage":"#,
        #"{"usage":}"#,
        "not json",
        "",
    ])
    func absentNullOrMalformedUsageIsNil(text: String) {
        #expect(of(text).usage == nil)
    }
}
