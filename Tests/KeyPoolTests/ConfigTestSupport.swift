import Foundation
import Testing

@testable import KeyPool

/// Parses `text` as config.json with `environment`.
func parseConfig(
    _ text: String, environment: [String: String] = [:]
) throws(ConfigError) -> (GatewayConfig, [ConfigWarning]) {
    try GatewayConfig.parse(data: Data(text.utf8), environment: environment)
}

/// The problems `text` is rejected with; records an issue when it is accepted.
func configProblems(
    _ text: String, environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation
) -> [String] {
    do {
        _ = try parseConfig(text, environment: environment)
        Issue.record("config was accepted", sourceLocation: sourceLocation)
        return []
    } catch {
        return error.problems
    }
}

/// A valid config around one provider entry (given as JSON text), for tests of entry rules.
func configWithEntries(_ entries: String...) -> String {
    #"{"access_key": "proxy", "provider_keys": [\#(entries.joined(separator: ", "))]}"#
}

/// The seed config of issue 3, verbatim.
let seedConfig = """
    {"access_key": "your-proxy-access-key", "model_usage_gap_percentage": 5,
     "auto-models": ["gpt-3.5-turbo:free", "gemini-pro"],
     "provider_keys": [
       {"provider": "openrouter", "key": ["key1","key2"], "max_request_day": 1500,
        "max_token_min": 150000, "max_request_min": 15},
       {"provider": "gemini", "key": ["key1","key2"], "max_request_day": 1500,
        "max_token_min": 150000, "max_request_min": 15}]}
    """
