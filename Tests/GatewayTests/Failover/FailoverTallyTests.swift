import HTTPTypes
import KeyPool
import Testing

@testable import Gateway

@Suite("The answer when every candidate is exhausted")
struct FailoverTallyTests {
    func failure(_ kind: UpstreamFailure.Kind, status: Int? = nil) -> UpstreamFailure {
        UpstreamFailure(kind: kind, provider: "p", keyID: "k1", status: status, retryAfterMillis: nil)
    }

    @Test func keysAtTheirLimitsGive429WithTheEarliestRetry() {
        var tally = FailoverTally()
        tally.refused(retryAfterMillis: 12_001, reason: .windowsFull)
        tally.refused(retryAfterMillis: 30_000, reason: .coolingDown)
        let error = tally.error(model: "m")
        #expect(error.status == .tooManyRequests)
        #expect(error.code == "rate_limit_exceeded")
        #expect(error.headers[.retryAfter] == "13")
        #expect(error.headers[ProxyHeaders.attempts] == "0")
    }

    @Test func onlyOpenBreakersGive503() {
        var tally = FailoverTally()
        tally.refused(retryAfterMillis: 4_000, reason: .circuitOpen)
        let error = tally.error(model: "m")
        #expect(error.status == .serviceUnavailable)
        #expect(error.code == "provider_unavailable")
        #expect(error.headers[.retryAfter] == "4")
        // A candidate at its limits as well: the client should wait, not give up.
        tally.refused(retryAfterMillis: 9_000, reason: .windowsFull)
        #expect(tally.error(model: "m").status == .tooManyRequests)
    }

    @Test func keysAllCoolingAfterFailuresGive503NotARateLimit() {
        var tally = FailoverTally()
        tally.refused(retryAfterMillis: 3_600_000, reason: .keysFailing)
        tally.refused(retryAfterMillis: 20_500, reason: .circuitOpen)
        let error = tally.error(model: "m")
        #expect(error.status == .serviceUnavailable)
        #expect(error.type == "service_unavailable")
        #expect(error.code == "keys_unavailable")
        #expect(error.message.contains("'m'"))
        #expect(error.headers[.retryAfter] == "21")
        // A candidate held back by a limit as well: that wait is the one to report.
        tally.refused(retryAfterMillis: 9_000, reason: .coolingDown)
        #expect(tally.error(model: "m").code == "rate_limit_exceeded")
        // The store decides by this reason string; the gateway writes it for upstream 429s.
        #expect(UpstreamFailure.Kind.rateLimited.rawValue == KeyFailure.rateLimitedReason)
    }

    @Test func theLastUpstreamFailureIsReported() {
        var tally = FailoverTally()
        tally.attempted()
        tally.failed(failure(.rateLimited, status: 429), model: "m", cooldownMillis: 7_000)
        tally.attempted()
        tally.failed(failure(.serverError, status: 503), model: "m-fallback", cooldownMillis: 5_000)
        tally.refused(retryAfterMillis: 0, reason: .exhausted)  // says nothing new
        let error = tally.error(model: "m")
        #expect(error.status == .badGateway)
        #expect(error.message.contains("status 503"))
        #expect(error.headers[ProxyHeaders.attempts] == "2")
        #expect(error.headers[ProxyHeaders.provider] == "p")
        #expect(error.headers[ProxyHeaders.keyID] == "k1")
        #expect(error.headers[ProxyHeaders.model] == "m-fallback")
        #expect(error.headers[.retryAfter] == "5")
    }

    @Test func timeoutsGive504() {
        var tally = FailoverTally()
        tally.attempted()
        tally.failed(failure(.timeout), model: "m", cooldownMillis: 5_000)
        #expect(tally.error(model: "m").status == .gatewayTimeout)
    }

    func unsupported(_ param: String) -> GatewayError {
        GatewayError(.badRequest, "no \(param)", type: "invalid_request_error", param: param, code: "unsupported_parameter")
    }

    @Test func whenEveryCandidateRefusesToTranslateTheFirstRefusalIsTheAnswer() {
        var tally = FailoverTally()
        tally.untranslatable(unsupported("n"), provider: "anthropic", model: "claude")
        tally.untranslatable(unsupported("logprobs"), provider: "gemini", model: "gemini-pro")
        let error = tally.error(model: "auto-model")
        #expect(error.status == .badRequest)
        #expect(error.param == "n")
        // No key was tried: the refusing candidate is named, with no key id and no Retry-After.
        #expect(error.headers[ProxyHeaders.provider] == "anthropic")
        #expect(error.headers[ProxyHeaders.model] == "claude")
        #expect(error.headers[ProxyHeaders.keyID] == nil)
        #expect(error.headers[ProxyHeaders.attempts] == "0")
        #expect(error.headers[.retryAfter] == nil)
    }

    @Test func aBusyCandidateOrAFailedTryWinsOverARefusalToTranslate() {
        var tally = FailoverTally()
        tally.refused(retryAfterMillis: 2_000, reason: .windowsFull)
        tally.untranslatable(unsupported("n"), provider: "anthropic", model: "claude")
        let busy = tally.error(model: "auto-model")
        #expect(busy.status == .tooManyRequests)
        #expect(busy.headers[.retryAfter] == "2")

        var failed = FailoverTally()
        failed.untranslatable(unsupported("n"), provider: "anthropic", model: "claude")
        failed.attempted()
        failed.failed(failure(.serverError, status: 500), model: "gpt", cooldownMillis: 1_000)
        #expect(failed.error(model: "auto-model").status == .badGateway)

        var opened = FailoverTally()
        opened.untranslatable(unsupported("n"), provider: "anthropic", model: "claude")
        opened.refused(retryAfterMillis: 3_000, reason: .circuitOpen)
        #expect(opened.error(model: "auto-model").code == "provider_unavailable")
    }

    @Test func ofTwoPermanentObstaclesTheEarlierCandidatesIsGiven() {
        let small = KeyLimits(tokensPerMinute: 10)
        var tooLargeFirst = FailoverTally()
        let fitsA = tooLargeFirst.fits(100, small)
        #expect(!fitsA)
        tooLargeFirst.untranslatable(unsupported("n"), provider: "anthropic", model: "claude")
        #expect(tooLargeFirst.error(model: "m").code == "token_limit_exceeded")

        var refusalFirst = FailoverTally()
        refusalFirst.untranslatable(unsupported("n"), provider: "anthropic", model: "claude")
        let fitsB = refusalFirst.fits(100, small)
        #expect(!fitsB)
        #expect(refusalFirst.error(model: "m").code == "unsupported_parameter")
    }
}
