import Foundation
import Testing

@testable import KeyPool

/// One rejected config and the exact problems it must produce.
struct RejectedConfig: Sendable, CustomTestStringConvertible {
    let rule: String
    let text: String
    let problems: [String]
    var environment: [String: String] = [:]

    var testDescription: String { rule }
}

private let gemini = #"{"provider": "gemini", "key": "g1"}"#

/// A config whose only flaw is `fields` (top-level JSON members, written as text).
private func topLevel(_ fields: String) -> String {
    #"{"access_key": "proxy", \#(fields), "provider_keys": [\#(gemini)]}"#
}

/// A config whose only flaw is in the single entry `entry`.
private func entry(_ entry: String) -> String {
    configWithEntries(entry)
}

private let topLevelRules: [RejectedConfig] = [
    .init(rule: "top level is an object", text: "[1, 2]", problems: ["config must be a JSON object at the top level"]),
    .init(rule: "top level is not a string", text: #""text""#, problems: ["config must be a JSON object at the top level"]),
    .init(rule: "an access key is required", text: #"{"provider_keys": [\#(gemini)]}"#,
          problems: ["access_key or access_keys must give at least one access key"]),
    .init(rule: "an empty access key list is not enough", text: #"{"access_keys": [], "provider_keys": [\#(gemini)]}"#,
          problems: ["access_key or access_keys must give at least one access key"]),
    .init(rule: "access_key is a string", text: #"{"access_key": 5, "provider_keys": [\#(gemini)]}"#,
          problems: ["access_key must be a non-empty string"]),
    .init(rule: "access_key is not empty", text: #"{"access_key": "", "provider_keys": [\#(gemini)]}"#,
          problems: ["access_key must be a non-empty string"]),
    .init(rule: "access_keys is a list", text: #"{"access_keys": "a", "provider_keys": [\#(gemini)]}"#,
          problems: ["access_keys must be a list of strings"]),
    .init(rule: "access_keys holds strings", text: #"{"access_keys": ["a", "", 3, null], "provider_keys": [\#(gemini)]}"#,
          problems: ["access_keys[1] must be a non-empty string", "access_keys[2] must be a non-empty string",
                     "access_keys[3] must be a non-empty string"]),
    .init(rule: "access keys are unique", text: #"{"access_key": "a", "access_keys": ["b", "a"], "provider_keys": [\#(gemini)]}"#,
          problems: ["access_keys[1] duplicates access_key"]),
    .init(rule: "gap above 100", text: topLevel(#""model_usage_gap_percentage": 100.5"#),
          problems: ["model_usage_gap_percentage must be a number from 0 to 100"]),
    .init(rule: "gap below 0", text: topLevel(#""model_usage_gap_percentage": -1"#),
          problems: ["model_usage_gap_percentage must be a number from 0 to 100"]),
    .init(rule: "gap is not a string", text: topLevel(#""model_usage_gap_percentage": "5""#),
          problems: ["model_usage_gap_percentage must be a number from 0 to 100"]),
    .init(rule: "gap is not a boolean", text: topLevel(#""model_usage_gap_percentage": true"#),
          problems: ["model_usage_gap_percentage must be a number from 0 to 100"]),
    .init(rule: "auto-models is a list", text: topLevel(#""auto-models": "gemini-pro""#),
          problems: ["auto-models must be a list of strings"]),
    .init(rule: "auto-models holds strings", text: topLevel(#""auto-models": ["gemini-pro", 3]"#),
          problems: ["auto-models[1] must be a non-empty string"]),
    .init(rule: "auto-models are served", text: topLevel(#""auto-models": ["gemini-pro", "gemini-flash", "gpt-4o"]"#),
          problems: ["auto-models[2] names a model no provider serves"]),
    .init(rule: "auto_models are served", text: topLevel(#""auto_models": ["gpt-4o"]"#),
          problems: ["auto_models[0] names a model no provider serves"]),
    .init(rule: "one spelling of auto-models", text: topLevel(#""auto-models": [], "auto_models": []"#),
          problems: ["auto-models and auto_models are the same setting; give only one"]),
    .init(rule: "fallbacks is an object", text: topLevel(#""fallbacks": ["gemini-pro"]"#),
          problems: ["fallbacks must be an object mapping a model name to a list of model names"]),
    .init(rule: "fallbacks map to lists", text: topLevel(#""fallbacks": {"gpt-4o": "gemini-pro", "o1": []}"#),
          problems: [#"fallbacks["gpt-4o"] must be a non-empty list of strings"#,
                     #"fallbacks["o1"] must be a non-empty list of strings"#]),
    .init(rule: "fallbacks are served", text: topLevel(#""fallbacks": {"gpt-4o": ["gemini-pro", "claude-3"]}"#),
          problems: [#"fallbacks["gpt-4o"][1] names a model no provider serves"#]),
    .init(rule: "redis is a string", text: topLevel(#""redis": 6379"#),
          problems: ["redis must be a redis:// or unix:// URL"]),
    .init(rule: "redis is a redis URL", text: topLevel(#""redis": "http://127.0.0.1:6379""#),
          problems: ["redis must be a redis:// or unix:// URL"]),
    .init(rule: "REDIS_URL is a redis URL", text: configWithEntries(gemini),
          problems: ["REDIS_URL (environment) must be a redis:// or unix:// URL"], environment: ["REDIS_URL": "localhost:6379"]),
    .init(rule: "time zone exists", text: topLevel(#""daily_reset_timezone": "Mars/Olympus_Mons""#),
          problems: [#"daily_reset_timezone must be an IANA time zone name such as "UTC" or "Europe/Berlin""#]),
    .init(rule: "time zone is a string", text: topLevel(#""daily_reset_timezone": 0"#),
          problems: [#"daily_reset_timezone must be an IANA time zone name such as "UTC" or "Europe/Berlin""#]),
    .init(rule: "default_max_tokens is positive", text: topLevel(#""default_max_tokens": 0"#),
          problems: ["default_max_tokens must be a positive integer"]),
    .init(rule: "server is an object", text: topLevel(#""server": 8080"#), problems: ["server must be an object"]),
    .init(rule: "server.host is a string", text: topLevel(#""server": {"host": ""}"#),
          problems: ["server.host must be a non-empty string"]),
    .init(rule: "server.port in range", text: topLevel(#""server": {"port": 65536}"#),
          problems: ["server.port must be an integer from 1 to 65535"]),
    .init(rule: "server.port is a number", text: topLevel(#""server": {"port": "8080"}"#),
          problems: ["server.port must be an integer from 1 to 65535"]),
    .init(rule: "server.max_body_bytes is positive", text: topLevel(#""server": {"max_body_bytes": -1}"#),
          problems: ["server.max_body_bytes must be a positive integer"]),
    .init(rule: "server.upstream_timeout_seconds is positive", text: topLevel(#""server": {"upstream_timeout_seconds": 0}"#),
          problems: ["server.upstream_timeout_seconds must be a positive number of at most 86400 (a day)"]),
    .init(rule: "server.upstream_timeout_seconds is at most a day", text: topLevel(#""server": {"upstream_timeout_seconds": 1e10}"#),
          problems: ["server.upstream_timeout_seconds must be a positive number of at most 86400 (a day)"]),
    .init(rule: "the redis URL parses in full", text: topLevel(#""redis": "redis://:pw@127.0.0.1:70000""#),
          problems: ["redis is not a usable Redis URL: port 70000 out of range"]),
    .init(rule: "the redis URL's options parse", text: topLevel(#""redis": "redis://127.0.0.1:6379?pool=99""#),
          problems: ["redis is not a usable Redis URL: pool=99 must be an integer from 1 to 64"]),
    .init(rule: "an integer is at most 10^12", text: topLevel(#""default_max_tokens": 9223372036854775807"#),
          problems: ["default_max_tokens must be at most 1000000000000"]),
    .init(rule: "server.redis_failure_mode is known", text: topLevel(#""server": {"redis_failure_mode": "retry"}"#),
          problems: ["server.redis_failure_mode must be one of fail_open, fail_closed"]),
    .init(rule: "server.shutdown_drain_seconds is not negative", text: topLevel(#""server": {"shutdown_drain_seconds": -1}"#),
          problems: ["server.shutdown_drain_seconds must be a number from 0 to 3600"]),
    .init(rule: "server.client_idle_timeout_seconds is positive", text: topLevel(#""server": {"client_idle_timeout_seconds": 0}"#),
          problems: ["server.client_idle_timeout_seconds must be a positive number of at most 86400 (a day)"]),
    .init(rule: "server.shutdown_drain_seconds is a number", text: topLevel(#""server": {"shutdown_drain_seconds": "30s"}"#),
          problems: ["server.shutdown_drain_seconds must be a number from 0 to 3600"]),
    .init(rule: "provider_keys is required", text: #"{"access_key": "a"}"#,
          problems: ["provider_keys must be a non-empty list of provider entries"]),
    .init(rule: "provider_keys is not empty", text: #"{"access_key": "a", "provider_keys": []}"#,
          problems: ["provider_keys must be a non-empty list of provider entries"]),
    .init(rule: "provider_keys is a list", text: #"{"access_key": "a", "provider_keys": {"provider": "gemini"}}"#,
          problems: ["provider_keys must be a non-empty list of provider entries"]),
    .init(rule: "entries are objects", text: configWithEntries(gemini, #""openrouter""#),
          problems: ["provider_keys[1] must be an object"]),
]

private let entryRules: [RejectedConfig] = [
    .init(rule: "provider is required", text: entry(#"{"key": "k", "type": "openai", "base_url": "https://x.example"}"#),
          problems: ["provider_keys[0].provider must be a non-empty string"]),
    .init(rule: "provider is a string", text: entry(#"{"provider": 1, "key": "k"}"#),
          problems: ["provider_keys[0].provider must be a non-empty string"]),
    .init(rule: "unknown provider needs type and base_url", text: entry(#"{"provider": "mycorp", "type": "openai", "key": "k"}"#),
          problems: [#"provider_keys[0].provider is not a known provider (openrouter, openai, groq, gemini, anthropic); give its type and base_url"#]),
    .init(rule: "type is known", text: entry(#"{"provider": "openai", "type": "azure", "key": "k"}"#),
          problems: ["provider_keys[0].type must be one of openai, gemini, anthropic"]),
    .init(rule: "type is a string", text: entry(#"{"provider": "openai", "type": ["openai"], "key": "k"}"#),
          problems: ["provider_keys[0].type must be one of openai, gemini, anthropic"]),
    .init(rule: "base_url is http(s)", text: entry(#"{"provider": "openai", "base_url": "ftp://example.com", "key": "k"}"#),
          problems: ["provider_keys[0].base_url must be an http or https URL"]),
    .init(rule: "base_url has a host", text: entry(#"{"provider": "openai", "base_url": "api.openai.com/v1", "key": "k"}"#),
          problems: ["provider_keys[0].base_url must be an http or https URL"]),
    .init(rule: "base_url has no credentials",
          text: entry(#"{"provider": "vllm", "type": "openai", "base_url": "https://ops:s3cret-pw@llm.example/v1", "models": ["m"], "key": "k"}"#),
          problems: ["provider_keys[0].base_url must not contain credentials (user:password@); send them in `headers`"]),
    .init(rule: "base_url has no user either", text: entry(#"{"provider": "openai", "base_url": "https://ops@api.openai.com/v1", "key": "k"}"#),
          problems: ["provider_keys[0].base_url must not contain credentials (user:password@); send them in `headers`"]),
    .init(rule: "base_url has no query",
          text: entry(#"{"provider": "openai", "base_url": "https://api.openai.com/v1?api-version=2024-02-01", "key": "k"}"#),
          problems: ["provider_keys[0].base_url must not have a query (?...) or fragment (#...): the endpoint's path is appended to it"]),
    .init(rule: "base_url has no fragment", text: entry(#"{"provider": "openai", "base_url": "https://api.openai.com/v1#x", "key": "k"}"#),
          problems: ["provider_keys[0].base_url must not have a query (?...) or fragment (#...): the endpoint's path is appended to it"]),
    .init(rule: "name alphabet", text: entry(#"{"provider": "gemini", "name": "my gemini", "key": "k"}"#),
          problems: ["provider_keys[0].name may contain only letters, digits, '.', '_' and '-'"]),
    .init(rule: "provider alphabet when it is the name",
          text: entry(#"{"provider": "my{corp}", "type": "openai", "base_url": "https://x.example", "models": ["m"], "key": "k"}"#),
          problems: ["provider_keys[0].provider may contain only letters, digits, '.', '_' and '-'"]),
    .init(rule: "names are unique", text: configWithEntries(gemini, #"{"provider": "openrouter", "key": "o"}"#, #"{"provider": "gemini", "key": "g2"}"#),
          problems: [#"provider_keys[2] has the same name "gemini" as provider_keys[0]; give one of them a distinct "name""#]),
    .init(rule: "models is not empty", text: entry(#"{"provider": "gemini", "models": [], "key": "k"}"#),
          problems: ["provider_keys[0].models must be a non-empty list of strings"]),
    .init(rule: "models is a list", text: entry(#"{"provider": "gemini", "models": "gemini-*", "key": "k"}"#),
          problems: ["provider_keys[0].models must be a non-empty list of strings"]),
    .init(rule: "models holds strings", text: entry(#"{"provider": "gemini", "models": ["gemini-*", ""], "key": "k"}"#),
          problems: ["provider_keys[0].models[1] must be a non-empty string"]),
    .init(rule: "model_map is an object", text: entry(#"{"provider": "gemini", "model_map": ["a"], "key": "k"}"#),
          problems: ["provider_keys[0].model_map must be an object mapping requested model names to upstream names"]),
    .init(rule: "model_map values are names", text: entry(#"{"provider": "gemini", "model_map": {"pro": 1, "flash": ""}, "key": "k"}"#),
          problems: [#"provider_keys[0].model_map["flash"] must be a non-empty string"#,
                     #"provider_keys[0].model_map["pro"] must be a non-empty string"#]),
    .init(rule: "headers is an object", text: entry(#"{"provider": "gemini", "headers": "X-A: b", "key": "k"}"#),
          problems: ["provider_keys[0].headers must be an object mapping header names to string values"]),
    .init(rule: "header values are strings", text: entry(#"{"provider": "gemini", "headers": {"X-A": 1}, "key": "k"}"#),
          problems: [#"provider_keys[0].headers["X-A"] must be a string"#]),
    .init(rule: "header names are tokens", text: entry(#"{"provider": "gemini", "headers": {"X A": "b"}, "key": "k"}"#),
          problems: [#"provider_keys[0].headers["X A"] is not a valid header name"#]),
    .init(rule: "gateway headers are reserved", text: entry(#"{"provider": "gemini", "headers": {"Authorization": "Bearer x"}, "key": "k"}"#),
          problems: [#"provider_keys[0].headers["Authorization"] is set by the gateway and cannot be configured"#]),
    .init(rule: "header values have no line breaks", text: entry(#"{"provider": "gemini", "headers": {"X-A": "b\r\nX-B: c"}, "key": "k"}"#),
          problems: [#"provider_keys[0].headers["X-A"] must not contain line breaks or control characters"#]),
    .init(rule: "key is required", text: entry(#"{"provider": "gemini"}"#),
          problems: ["provider_keys[0].key must be a non-empty list of strings"]),
    .init(rule: "key list is not empty", text: entry(#"{"provider": "gemini", "key": []}"#),
          problems: ["provider_keys[0].key must be a non-empty list of strings"]),
    .init(rule: "key is a string or list", text: entry(#"{"provider": "gemini", "key": {"a": "b"}}"#),
          problems: ["provider_keys[0].key must be a non-empty list of strings"]),
    .init(rule: "a single key is not empty", text: entry(#"{"provider": "gemini", "key": ""}"#),
          problems: ["provider_keys[0].key must be a non-empty string"]),
    .init(rule: "keys in a list are strings", text: entry(#"{"provider": "gemini", "key": ["a", "", 7, null]}"#),
          problems: ["provider_keys[0].key[1] must be a non-empty string", "provider_keys[0].key[2] must be a non-empty string",
                     "provider_keys[0].key[3] must be a non-empty string"]),
    .init(rule: "keys have no whitespace", text: entry(#"{"provider": "gemini", "key": ["a", "b\n"]}"#),
          problems: ["provider_keys[0].key[1] must not contain whitespace or control characters"]),
    .init(rule: "keys are unique in an entry", text: entry(#"{"provider": "gemini", "key": ["a", "b", "a"]}"#),
          problems: ["provider_keys[0].key[2] duplicates provider_keys[0].key[0]"]),
    .init(rule: "keys are unique across entries of one upstream",
          text: configWithEntries(
            #"{"provider": "gemini", "key": ["a", "b"]}"#, #"{"provider": "openrouter", "key": "c"}"#,
            #"{"provider": "gemini", "name": "gemini-2", "key": ["d", "a"]}"#),
          problems: ["provider_keys[2].key[1] duplicates provider_keys[0].key[0]"]),
    .init(rule: "a key from the environment duplicates a literal one",
          text: entry(#"{"provider": "gemini", "key": ["a", "${K}"]}"#),
          problems: ["provider_keys[0].key[1] duplicates provider_keys[0].key[0]"], environment: ["K": "a"]),
    .init(rule: "api_version is a string", text: entry(#"{"provider": "openai", "api_version": "", "key": "k"}"#),
          problems: ["provider_keys[0].api_version must be a non-empty string"]),
    .init(rule: "entry default_max_tokens is positive", text: entry(#"{"provider": "openai", "default_max_tokens": 1.5, "key": "k"}"#),
          problems: ["provider_keys[0].default_max_tokens must be a positive integer"]),
]

@Suite("Config validation")
struct ConfigValidationTests {
    @Test(arguments: topLevelRules)
    func topLevelRule(_ rejected: RejectedConfig) {
        #expect(configProblems(rejected.text, environment: rejected.environment) == rejected.problems)
    }

    @Test(arguments: entryRules)
    func entryRule(_ rejected: RejectedConfig) {
        #expect(configProblems(rejected.text, environment: rejected.environment) == rejected.problems)
    }

    @Test(arguments: ["{\"access_key\": ", "{\"a\" 1}", "", "{'a': 1}"])
    func invalidJSON(text: String) {
        let problems = configProblems(text)
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("config is not valid JSON: ") == true)
        #expect((problems.first?.count ?? 0) > "config is not valid JSON: ".count)
    }

    static let limitFields = ["max_request_min", "max_token_min", "max_request_day", "max_token_day"]
    static let badLimits = ["0", "-1", "1.5", "\"15\"", "true", "false", "[15]", "{}", "1e300"]

    @Test(arguments: limitFields, badLimits)
    func limitsArePositiveIntegers(field: String, value: String) {
        let text = entry(#"{"provider": "gemini", "key": "k", "\#(field)": \#(value)}"#)
        #expect(configProblems(text) == ["provider_keys[0].\(field) must be a positive integer"])
    }

    @Test(arguments: limitFields)
    func wholeNumbersWrittenWithAFractionAreAccepted(field: String) throws {
        let text = entry(#"{"provider": "gemini", "key": "k", "\#(field)": 15.0}"#)
        let limits = try parseConfig(text).0.providers[0].limits
        let value = [limits.requestsPerMinute, limits.tokensPerMinute, limits.requestsPerDay, limits.tokensPerDay]
        #expect(value[Self.limitFields.firstIndex(of: field)!] == 15)
    }

    @Test func everyProblemIsReportedTogether() {
        let text = """
            {"model_usage_gap_percentage": 120, "auto-models": ["gemini-pro"], "daily_reset_timezone": "Nowhere",
             "server": {"port": 0},
             "provider_keys": [
               {"provider": "openrouter", "key": ["sk-a", "${MISSING}"], "max_request_min": 0},
               {"provider": "nope", "key": []},
               {"provider": "gemini", "type": "bard", "key": ["sk-a", "sk-a"], "max_token_min": "lots"}
             ]}
            """
        #expect(configProblems(text) == [
            "access_key or access_keys must give at least one access key",
            "model_usage_gap_percentage must be a number from 0 to 100",
            #"daily_reset_timezone must be an IANA time zone name such as "UTC" or "Europe/Berlin""#,
            "server.port must be an integer from 1 to 65535",
            "provider_keys[0].key[1] references unset environment variable MISSING",
            "provider_keys[0].max_request_min must be a positive integer",
            #"provider_keys[1].provider is not a known provider (openrouter, openai, groq, gemini, anthropic); give its type and base_url"#,
            "provider_keys[1].key must be a non-empty list of strings",
            "provider_keys[2].type must be one of openai, gemini, anthropic",
            "provider_keys[2].key[1] duplicates provider_keys[2].key[0]",
            "provider_keys[2].max_token_min must be a positive integer",
        ])
    }

    @Test func errorDescriptionListsEveryProblem() {
        let single = ConfigError(problems: ["a must be b"])
        #expect(single.description == "invalid config: a must be b")
        let several = ConfigError(problems: ["a must be b", "c must be d"])
        #expect(several.description == "invalid config (2 problems):\n- a must be b\n- c must be d")
    }
}
