import Foundation
import Testing

@testable import KeyPool

@Suite("Config: failover")
struct FailoverConfigTests {
    func config(_ failover: String) -> String {
        #"{"access_key": "proxy", "failover": \#(failover), "provider_keys": [{"provider": "openai", "key": "sk-1"}]}"#
    }

    @Test func defaultsWhenAbsent() throws {
        let (parsed, _) = try parseConfig(seedConfig)
        #expect(parsed.failover == FailoverConfig())
        #expect(parsed.failover.maxAttempts == 3)
        #expect(parsed.failover.rateLimitCooldownSeconds == 60)
        #expect(parsed.failover.errorCooldownSeconds == 5)
        #expect(parsed.failover.authDisableSeconds == 3600)
        #expect(parsed.failover.maxCooldownSeconds == 3600)
        #expect(parsed.failover.circuitBreakerSeconds == 30)
        #expect(parsed.failover.circuitBreakerWindowSeconds == 60)
    }

    @Test func everyFieldIsRead() throws {
        let (parsed, warnings) = try parseConfig(config("""
            {"max_attempts": 5, "rate_limit_cooldown_seconds": 20, "error_cooldown_seconds": 0.5,
             "auth_disable_seconds": 600, "max_cooldown_seconds": 120, "circuit_breaker_seconds": 0,
             "circuit_breaker_window_seconds": 10}
            """))
        #expect(parsed.failover == FailoverConfig(
            maxAttempts: 5, rateLimitCooldownSeconds: 20, errorCooldownSeconds: 0.5, authDisableSeconds: 600,
            maxCooldownSeconds: 120, circuitBreakerSeconds: 0, circuitBreakerWindowSeconds: 10))
        #expect(warnings.isEmpty)
    }

    @Test func badValuesAreNamed() {
        let problems = configProblems(config("""
            {"max_attempts": 0, "rate_limit_cooldown_seconds": -1, "error_cooldown_seconds": "5",
             "auth_disable_seconds": 0, "max_cooldown_seconds": null, "circuit_breaker_seconds": -0.5,
             "circuit_breaker_window_seconds": 1e10}
            """))
        #expect(problems == [
            "failover.max_attempts must be a positive integer",
            "failover.rate_limit_cooldown_seconds must be a positive number of seconds, at most 31536000 (a year)",
            "failover.error_cooldown_seconds must be a positive number of seconds, at most 31536000 (a year)",
            "failover.auth_disable_seconds must be a positive number of seconds, at most 31536000 (a year)",
            "failover.circuit_breaker_seconds must be a non-negative number of seconds, at most 31536000 (a year)",
            "failover.circuit_breaker_window_seconds must be a positive number of seconds, at most 31536000 (a year)",
        ])
        #expect(configProblems(config("[]")) == ["failover must be an object"])
    }

    @Test func unknownFieldsAreWarnedAbout() throws {
        let (_, warnings) = try parseConfig(config(#"{"max_atempts": 2}"#))
        #expect(warnings.map(\.message) == ["failover.max_atempts is not a known field and is ignored (did you mean max_attempts?)"])
    }
}
