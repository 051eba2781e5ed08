import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import Gateway

@Suite("Retry delay from an upstream's answer")
struct RetryDelayTests {
    /// 2026-11-22T12:00:00Z.
    let now = Date(timeIntervalSince1970: 1_795_348_800)

    func delay(_ headers: [(String, String)], body: String? = nil) -> Int64? {
        RetryDelay.millis(headers: HTTPHeaders(headers), body: body.map { ByteBuffer(string: $0) }, now: now)
    }

    @Test func retryAfterSecondsAndMilliseconds() {
        #expect(delay([("Retry-After", "30")]) == 30_000)
        #expect(delay([("retry-after", " 1.5 ")]) == 1_500)
        #expect(delay([("retry-after-ms", "250"), ("retry-after", "30")]) == 250)
        #expect(delay([("retry-after", "0")]) == 0)
    }

    @Test func retryAfterHTTPDate() {
        #expect(delay([("Retry-After", "Sun, 22 Nov 2026 12:00:45 GMT")]) == 45_000)
        #expect(delay([("Retry-After", "Sun, 22 Nov 2026 11:00:00 GMT")]) == 0)  // already past
    }

    @Test func absurdDelaysAreCappedNotATrap() {
        // Each of these once reached `Int64(Double)` out of range: a trap, the whole process down.
        let year = Int64(RetryDelay.maxMillis)
        #expect(delay([("retry-after-ms", "1e30")]) == year)
        #expect(delay([("retry-after", "99999999999999999999")]) == year)
        #expect(delay([("x-ratelimit-reset", "1e300")]) == year)
        #expect(delay([("x-ratelimit-reset-requests", "99999999999999999999s")]) == year)
        #expect(delay([], body: #"{"error":{"details":[{"retryDelay":"100000000000000000000000s"}]}}"#) == year)
        #expect(delay([("retry-after-ms", "inf")]) == nil)
    }

    @Test func garbageIsIgnored() {
        #expect(delay([("Retry-After", "soon")]) == nil)
        #expect(delay([("retry-after-ms", "-5")]) == nil)
        #expect(delay([("x-ratelimit-reset-requests", "later")]) == nil)
        #expect(delay([]) == nil)
    }

    @Test(arguments: [
        ("20ms", 20), ("1s", 1_000), ("1.5s", 1_500), ("6m0s", 360_000), ("1h2m3.5s", 3_723_500), ("2m59.56s", 179_560),
        ("7", 7_000),
    ] as [(String, Int64)])
    func openAIDurations(text: String, millis: Int64) {
        #expect(RetryDelay.duration(text) == millis)
    }

    @Test(arguments: ["", "s", "1x", "1s2", "1..2s"])
    func badDurations(text: String) {
        #expect(RetryDelay.duration(text) == nil)
    }

    @Test func theExhaustedLimitsResetDecides() {
        // Requests are used up: their reset counts, however soon the tokens reset.
        #expect(delay([
            ("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "1m30s"),
            ("x-ratelimit-remaining-tokens", "4000"), ("x-ratelimit-reset-tokens", "2s"),
        ]) == 90_000)
        // Both used up: the later reset.
        #expect(delay([
            ("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "10s"),
            ("x-ratelimit-remaining-tokens", "0"), ("x-ratelimit-reset-tokens", "40s"),
        ]) == 40_000)
        // None says 0: the earliest reset.
        #expect(delay([("x-ratelimit-reset-requests", "10s"), ("x-ratelimit-reset-tokens", "3s")]) == 3_000)
    }

    @Test func anthropicResetTimes() {
        #expect(delay([
            ("anthropic-ratelimit-requests-remaining", "12"), ("anthropic-ratelimit-requests-reset", "2026-11-22T12:00:05Z"),
            ("anthropic-ratelimit-output-tokens-remaining", "0"),
            ("anthropic-ratelimit-output-tokens-reset", "2026-11-22T12:00:20.500Z"),
        ]) == 20_500)
    }

    @Test func openRouterResetIsEpochMilliseconds() {
        #expect(delay([("X-RateLimit-Reset", "1795348812000")]) == 12_000)
        #expect(delay([("X-RateLimit-Reset", "1795348803")]) == 3_000)
        #expect(delay([("X-RateLimit-Reset", "4")]) == 4_000)
    }

    @Test func geminiRetryInfoInTheBody() {
        let body = """
            {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
              {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}
            """
        #expect(delay([], body: body) == 37_000)
        #expect(delay([("retry-after", "5")], body: body) == 5_000)  // a header wins
        #expect(delay([], body: #"{"error": {"retryDelay": 5}}"#) == nil)
    }
}
