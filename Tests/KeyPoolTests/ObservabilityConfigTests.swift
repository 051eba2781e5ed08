import Foundation
import Testing

@testable import KeyPool

@Suite("Config: logging and metrics")
struct ObservabilityConfigTests {
    func config(logging: String? = nil, metrics: String? = nil) -> String {
        var extra = ""
        if let logging { extra += #", "logging": \#(logging)"# }
        if let metrics { extra += #", "metrics": \#(metrics)"# }
        return #"{"access_key": "proxy"\#(extra), "provider_keys": [{"provider": "openai", "key": "sk-1"}]}"#
    }

    @Test func defaultsWhenAbsent() throws {
        let (parsed, _) = try parseConfig(seedConfig)
        #expect(parsed.logging == LoggingConfig())
        #expect(parsed.logging.level == "info")
        #expect(parsed.logging.format == .json)
        #expect(parsed.logging.requests == true)
        #expect(parsed.logging.bodies == false)
        #expect(parsed.logging.maxBodyBytes == 4096)
        #expect(parsed.logging.redactFields == ["api_key", "authorization", "password", "secret", "token", "x-api-key"])
        #expect(parsed.metrics == MetricsConfig(enabled: true, bearerToken: nil))
    }

    @Test func everyFieldIsRead() throws {
        let (parsed, warnings) = try parseConfig(
            config(
                logging: """
                    {"level": "debug", "format": "text", "requests": false, "bodies": true,
                     "max_body_bytes": 100, "redact_fields": ["ssn"]}
                    """,
                metrics: #"{"enabled": false, "bearer_token": "${SCRAPE_TOKEN}"}"#),
            environment: ["SCRAPE_TOKEN": "scrape-secret"])
        #expect(parsed.logging == LoggingConfig(
            level: "debug", format: .text, requests: false, bodies: true, maxBodyBytes: 100, redactFields: ["ssn"]))
        #expect(parsed.metrics == MetricsConfig(enabled: false, bearerToken: "scrape-secret"))
        #expect(warnings.isEmpty)
    }

    @Test func anEmptyRedactionListIsAllowed() throws {
        let (parsed, _) = try parseConfig(config(logging: #"{"redact_fields": []}"#))
        #expect(parsed.logging.redactFields == [])
    }

    @Test func badValuesAreNamed() {
        let problems = configProblems(config(
            logging: """
                {"level": "verbose", "format": "xml", "requests": "yes", "bodies": 1,
                 "max_body_bytes": 0, "redact_fields": "token"}
                """,
            metrics: #"{"enabled": "true", "bearer_token": 5}"#))
        #expect(problems.contains("logging.level must be one of trace, debug, info, notice, warning, error, critical"))
        #expect(problems.contains("logging.format must be one of json, text"))
        #expect(problems.contains("logging.requests must be true or false"))
        #expect(problems.contains("logging.bodies must be true or false"))
        #expect(problems.contains("logging.max_body_bytes must be a positive integer"))
        #expect(problems.contains { $0.hasPrefix("logging.redact_fields must be") })
        #expect(problems.contains("metrics.enabled must be true or false"))
        #expect(problems.contains { $0.hasPrefix("metrics.bearer_token must be") })
        #expect(problems.count == 8)
        #expect(configProblems(config(logging: "[]")) == ["logging must be an object"])
        #expect(configProblems(config(metrics: "true")) == ["metrics must be an object"])
    }

    @Test func anUnsetTokenVariableIsAProblem() {
        let problems = configProblems(config(metrics: #"{"bearer_token": "${NOT_SET_ANYWHERE}"}"#))
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("metrics.bearer_token") == true)
        #expect(problems.first?.contains("NOT_SET_ANYWHERE") == true)
    }

    @Test func unknownFieldsAreWarnedAbout() throws {
        let (_, warnings) = try parseConfig(config(logging: #"{"levle": "info"}"#, metrics: #"{"enable": true}"#))
        #expect(warnings.map(\.message) == [
            "logging.levle is not a known field and is ignored (did you mean level?)",
            "metrics.enable is not a known field and is ignored (did you mean enabled?)",
        ])
    }
}
