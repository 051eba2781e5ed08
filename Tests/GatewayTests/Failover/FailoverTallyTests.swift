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
}
