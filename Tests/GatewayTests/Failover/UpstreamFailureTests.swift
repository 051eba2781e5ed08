import HTTPTypes
import KeyPool
import NIOCore
import NIOHTTP1
import Testing

@testable import Gateway

@Suite("Upstream failures: what is retried and what it costs the key")
struct UpstreamFailureTests {
    let policy = FailoverConfig(
        maxAttempts: 3, rateLimitCooldownSeconds: 60, errorCooldownSeconds: 5, authDisableSeconds: 3600,
        maxCooldownSeconds: 120, circuitBreakerSeconds: 30, circuitBreakerWindowSeconds: 60)
    let breaker = CircuitBreakerPolicy(windowMillis: 60_000, openMillis: 30_000)

    func classify(_ status: Int, _ headers: [(String, String)] = []) -> UpstreamFailure? {
        UpstreamFailure.classify(status: status, headers: HTTPHeaders(headers), body: nil, provider: "p", keyID: "k")
    }

    @Test(arguments: [400, 404, 405, 409, 413, 422])
    func clientErrorsAreNotRetried(status: Int) {
        #expect(classify(status) == nil)
    }

    @Test func googlesInvalidKey400DisablesTheKey() throws {
        func classify400(_ body: String) -> UpstreamFailure? {
            UpstreamFailure.classify(status: 400, headers: [:], body: ByteBuffer(string: body), provider: "p", keyID: "k")
        }
        // Gemini's native answer, and its OpenAI-compatible endpoint's (an array).
        let native = #"""
            {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
              "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                           "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]}}
            """#
        let failure = try #require(classify400(native))
        #expect(failure.kind == .keyRejected)
        #expect(failure.keyFailure(policy) == KeyFailure(cooldownMillis: 3_600_000, reason: "auth_rejected"))
        #expect(classify400(#"[{"error": {"code": 400, "details": [{"reason": "API_KEY_INVALID"}]}}]"#)?.kind == .keyRejected)
        // The same words inside a message (a client's text quoted back) are the client's error.
        #expect(classify400(#"{"error": {"message": "bad value \"reason\": \"API_KEY_INVALID\"", "details": []}}"#) == nil)
        #expect(classify400(#"{"error": {"status": "INVALID_ARGUMENT", "details": [{"reason": "FIELD_INVALID"}]}}"#) == nil)
        #expect(classify400("not json") == nil)
    }

    @Test func rateLimitUsesTheUpstreamsDelayCapped() throws {
        let asked = try #require(classify(429, [("retry-after", "30")]))
        #expect(asked.kind == .rateLimited)
        #expect(asked.keyFailure(policy) == KeyFailure(cooldownMillis: 30_000, reason: "rate_limited"))
        let tooLong = try #require(classify(429, [("retry-after", "86400")]))
        #expect(tooLong.keyFailure(policy).cooldownMillis == 120_000)
        #expect(try #require(classify(429)).keyFailure(policy).cooldownMillis == 60_000)
        // Never less than a second, so a `Retry-After: 0` cannot bounce the next request.
        #expect(try #require(classify(429, [("retry-after", "0")])).keyFailure(policy).cooldownMillis == 1_000)
    }

    @Test(arguments: [500, 502, 503, 504, 529, 408])
    func serverErrorsCountTowardTheBreaker(status: Int) throws {
        let failure = try #require(classify(status))
        #expect(failure.kind == .serverError)
        #expect(failure.keyFailure(policy) == KeyFailure(cooldownMillis: 5_000, reason: "server_error", breaker: breaker))
        #expect(failure.clientError.status == .badGateway)
        // An overloaded provider that says when to come back is believed.
        #expect(try #require(classify(status, [("retry-after", "9")])).keyFailure(policy).cooldownMillis == 9_000)
    }

    @Test(arguments: [401, 402, 403])
    func rejectedKeysAreDisabled(status: Int) throws {
        let failure = try #require(classify(status, [("retry-after", "5")]))
        #expect(failure.kind == .keyRejected)
        #expect(failure.keyFailure(policy) == KeyFailure(cooldownMillis: 3_600_000, reason: "auth_rejected"))
        #expect(failure.clientError.code == "upstream_auth_failed")
        #expect(failure.clientError.message.contains("key k"))
    }

    @Test func aBreakerOfZeroSecondsIsOff() throws {
        var off = policy
        off.circuitBreakerSeconds = 0
        #expect(try #require(classify(503)).keyFailure(off).breaker == nil)
    }

    @Test func transportFailures() {
        let timeout = UpstreamFailure.transport(UpstreamClientError(.timeout), provider: "p", keyID: "k")
        #expect(timeout.kind == .timeout)
        #expect(timeout.clientError.status == .gatewayTimeout)
        let refused = UpstreamFailure.transport(UpstreamClientError(.connect), provider: "p", keyID: "k")
        #expect(refused.kind == .unreachable)
        #expect(refused.keyFailure(policy) == KeyFailure(cooldownMillis: 5_000, reason: "unreachable", breaker: breaker))
    }

    @Test func streamErrorsBeforeTheFirstEvent() {
        func kind(_ code: String) -> UpstreamFailure.Kind? {
            UpstreamFailure.streamError(
                GatewayError(.badGateway, "x", type: "upstream_error", code: code), provider: "p", keyID: "k")?.kind
        }
        #expect(kind("overloaded_error") == .serverError)
        #expect(kind("UNAVAILABLE") == .serverError)
        #expect(kind("rate_limit_error") == .rateLimited)
        #expect(kind("RESOURCE_EXHAUSTED") == .rateLimited)
        #expect(kind("invalid_request_error") == nil)
        #expect(kind("INVALID_ARGUMENT") == nil)
    }
}

