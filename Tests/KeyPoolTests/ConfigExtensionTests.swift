import Foundation
import Testing

@testable import KeyPool

@Suite("Config extensions")
struct ConfigExtensionTests {
    static let full = """
        {
          "access_key": "${PROXY_KEY}",
          "access_keys": ["second-access-key"],
          "model_usage_gap_percentage": 12.5,
          "auto_models": ["cheap", "gemini-1.5-flash", "groq/llama-3.1-8b-instant"],
          "fallbacks": {"gpt-4o": ["claude-3-5-sonnet", "gemini-1.5-pro"]},
          "redis": "redis://:${REDIS_PASSWORD}@10.0.0.5:6379/2",
          "daily_reset_timezone": "America/Los_Angeles",
          "default_max_tokens": 2048,
          "server": {"host": "0.0.0.0", "port": 9090, "max_body_bytes": 1048576,
                     "upstream_timeout_seconds": 30.5, "redis_failure_mode": "fail_closed",
                     "shutdown_drain_seconds": 7.5, "client_idle_timeout_seconds": 20},
          "_comment": "fields starting with _ are ignored silently",
          "provider_keys": [
            {"provider": "openrouter", "name": "openrouter-free",
             "models": ["cheap", "openai/*"],
             "model_map": {"cheap": "openai/gpt-3.5-turbo"},
             "headers": {"HTTP-Referer": "https://example.com", "X-Title": "${APP_TITLE} gateway"},
             "key": ["${OPENROUTER_KEY_1}", "sk-or-v1-literal"],
             "max_request_min": 20, "max_token_min": 100000, "max_request_day": 200, "max_token_day": 5000000,
             "default_max_tokens": 512},
            {"provider": "mycorp", "type": "openai", "base_url": "https://llm.example.com/v1///",
             "models": ["llama-*"], "api_version": "2024-06-01", "key": "${MYCORP_KEY}"},
            {"provider": "anthropic", "key": "sk-ant-1", "max_request_min": 50.0},
            {"provider": "gemini", "type": "gemini", "base_url": "http://127.0.0.1:9999/", "key": ["g-1", "g-2"]},
            {"provider": "openai", "key": ["sk-openai-1"], "max_token_day": null},
            {"provider": "groq", "key": "gsk-1"}
          ]
        }
        """
    static let environment = [
        "PROXY_KEY": "first-access-key", "REDIS_PASSWORD": "hunter2", "APP_TITLE": "Acme",
        "OPENROUTER_KEY_1": "sk-or-v1-from-env", "MYCORP_KEY": "corp-key",
    ]

    @Test func everyExtensionFieldParses() throws {
        let (config, warnings) = try parseConfig(Self.full, environment: Self.environment)
        #expect(config.accessKeys == ["first-access-key", "second-access-key"])
        #expect(config.usageGapPercentage == 12.5)
        #expect(config.autoModels == ["cheap", "gemini-1.5-flash", "groq/llama-3.1-8b-instant"])
        #expect(config.fallbacks == ["gpt-4o": ["claude-3-5-sonnet", "gemini-1.5-pro"]])
        #expect(config.redisURL == "redis://:hunter2@10.0.0.5:6379/2")
        #expect(config.dailyResetTimeZone.identifier == "America/Los_Angeles")
        #expect(config.defaultMaxTokens == 2048)
        #expect(config.server == ServerConfig(
            host: "0.0.0.0", port: 9090, maxBodyBytes: 1_048_576, upstreamTimeoutSeconds: 30.5,
            redisFailureMode: .failClosed, shutdownDrainSeconds: 7.5, clientIdleTimeoutSeconds: 20))
        #expect(config.providers.map(\.name) == ["openrouter-free", "mycorp", "anthropic", "gemini", "openai", "groq"])

        let openrouter = config.providers[0]
        #expect(openrouter.provider == "openrouter")
        #expect(openrouter.type == .openai)
        #expect(openrouter.baseURL == "https://openrouter.ai/api/v1")
        #expect(openrouter.models == ["cheap", "openai/*"])
        #expect(openrouter.modelMap == ["cheap": "openai/gpt-3.5-turbo"])
        #expect(openrouter.headers == ["HTTP-Referer": "https://example.com", "X-Title": "Acme gateway"])
        #expect(openrouter.keys.map(\.secret) == ["sk-or-v1-from-env", "sk-or-v1-literal"])
        #expect(openrouter.keys.map(\.id) == ["sk-or-v1-from-env", "sk-or-v1-literal"].map(KeyID.of))
        #expect(openrouter.limits == KeyLimits(
            requestsPerMinute: 20, tokensPerMinute: 100_000, requestsPerDay: 200, tokensPerDay: 5_000_000))
        #expect(openrouter.defaultMaxTokens == 512)
        #expect(config.defaultMaxTokens(for: openrouter) == 512)

        let mycorp = config.providers[1]
        #expect(mycorp.type == .openai)
        #expect(mycorp.baseURL == "https://llm.example.com/v1")
        #expect(mycorp.apiVersion == "2024-06-01")
        #expect(mycorp.keys.map(\.secret) == ["corp-key"])
        #expect(mycorp.limits == .unlimited)
        #expect(config.defaultMaxTokens(for: mycorp) == 2048)

        #expect(config.providers[2].type == .anthropic)
        #expect(config.providers[2].baseURL == "https://api.anthropic.com")
        #expect(config.providers[2].models == ["claude-*"])
        #expect(config.providers[2].limits.requestsPerMinute == 50)
        #expect(config.providers[3].baseURL == "http://127.0.0.1:9999")
        #expect(config.providers[4].baseURL == "https://api.openai.com/v1")
        #expect(config.providers[4].limits == .unlimited)
        #expect(config.providers[5].baseURL == "https://api.groq.com/openai/v1")
        #expect(config.providers[5].models == [])

        #expect(warnings.map(\.message) == [
            "provider_keys[5] (groq) lists no models and groq has no default ones; it serves only requests naming it as groq/<model>"
        ])
    }

    @Test func unknownFieldsAreWarningsWithSuggestions() throws {
        let text = """
            {"access_key": "a", "acess_keys": ["b"], "totally_new": 1,
             "server": {"prot": 80},
             "provider_keys": [{"provider": "gemini", "key": "k", "max_requests_min": 5}]}
            """
        let (config, warnings) = try parseConfig(text)
        #expect(config.providers[0].limits == .unlimited)
        #expect(warnings == [
            ConfigWarning(path: "acess_keys", message: "acess_keys is not a known field and is ignored (did you mean access_keys?)"),
            ConfigWarning(path: "totally_new", message: "totally_new is not a known field and is ignored"),
            ConfigWarning(path: "server.prot", message: "server.prot is not a known field and is ignored (did you mean port?)"),
            ConfigWarning(
                path: "provider_keys[0].max_requests_min",
                message: "provider_keys[0].max_requests_min is not a known field and is ignored (did you mean max_request_min?)"),
        ])
    }

    @Test func environmentExpansionEmbedsAndRepeats() throws {
        let text = configWithEntries(#"{"provider": "gemini", "key": ["${A}-${B}-${A}", "${EMPTY}x"]}"#)
        let (config, _) = try parseConfig(text, environment: ["A": "one", "B": "two", "EMPTY": ""])
        #expect(config.providers[0].keys.map(\.secret) == ["one-two-one", "x"])
    }

    @Test func unsetEnvironmentVariableIsNamedWithItsPath() {
        let text = configWithEntries(#"{"provider": "openrouter", "key": ["sk-or-v1-a", "${OPENROUTER_KEY_1}"]}"#)
        #expect(configProblems(text) == ["provider_keys[0].key[1] references unset environment variable OPENROUTER_KEY_1"])
    }

    @Test func unsetVariablesEverywhereTheyExpand() {
        let text = """
            {"access_key": "${ACCESS}", "access_keys": ["${ACCESS_2}"], "redis": "${REDIS}",
             "provider_keys": [{"provider": "mycorp", "type": "openai", "base_url": "${BASE}",
                                "models": ["m"], "headers": {"X-Auth-Token": "${TOKEN}"}, "key": "${KEY}"}]}
            """
        #expect(configProblems(text) == [
            "access_key references unset environment variable ACCESS",
            "access_keys[0] references unset environment variable ACCESS_2",
            "redis references unset environment variable REDIS",
            "provider_keys[0].base_url references unset environment variable BASE",
            "provider_keys[0].headers[\"X-Auth-Token\"] references unset environment variable TOKEN",
            "provider_keys[0].key references unset environment variable KEY",
        ])
    }

    @Test(arguments: ["${1ABC}", "${OPEN", "${}", "${A-B}"])
    func malformedReferencesAreRejected(reference: String) {
        let text = configWithEntries(#"{"provider": "gemini", "key": ["\#(reference)"]}"#)
        #expect(configProblems(text) == [
            "provider_keys[0].key[0] has a malformed ${...} reference; write ${NAME} with letters, digits and _"
        ])
    }

    @Test func redisFieldWinsOverRedisURL() throws {
        let withField = #"{"access_key": "a", "redis": "redis://file:6379", "provider_keys": [{"provider": "gemini", "key": "k"}]}"#
        let withoutField = configWithEntries(#"{"provider": "gemini", "key": "k"}"#)
        let environment = ["REDIS_URL": "redis://env:6379"]
        #expect(try parseConfig(withField, environment: environment).0.redisURL == "redis://file:6379")
        #expect(try parseConfig(withoutField, environment: environment).0.redisURL == "redis://env:6379")
        #expect(try parseConfig(withoutField, environment: ["REDIS_URL": ""]).0.redisURL == nil)
        #expect(try parseConfig(withoutField).0.redisURL == nil)
        let unixSocket = ["REDIS_URL": "unix:///run/redis.sock"]
        #expect(try parseConfig(withoutField, environment: unixSocket).0.redisURL == "unix:///run/redis.sock")
    }

    @Test func seedSpellingOfAutoModelsAndNullsMeanDefaults() throws {
        let text = """
            {"access_key": "a", "auto-models": ["gemini-pro"], "redis": null, "server": null,
             "default_max_tokens": null, "provider_keys": [{"provider": "gemini", "key": "k", "max_request_min": null}]}
            """
        let (config, warnings) = try parseConfig(text)
        #expect(config.autoModels == ["gemini-pro"])
        #expect(config.redisURL == nil)
        #expect(config.server == ServerConfig())
        #expect(config.defaultMaxTokens == 1024)
        #expect(config.providers[0].limits == .unlimited)
        #expect(warnings == [])
    }

    @Test func explicitlyNamedEntryServesAnyModelForValidation() throws {
        let text = #"{"access_key": "a", "auto-models": ["groq/llama3-70b"], "provider_keys": [{"provider": "groq", "key": "k"}]}"#
        let (config, _) = try parseConfig(text)
        #expect(config.isServed(model: "groq/llama3-70b"))
        #expect(!config.isServed(model: "groq/"))
        #expect(!config.isServed(model: "llama3-70b"))
        #expect(config.provider(named: "groq")?.provider == "groq")
        #expect(config.provider(named: "gemini") == nil)
    }

    @Test func twoEntriesOfOneProviderWithDistinctNames() throws {
        let text = configWithEntries(
            #"{"provider": "gemini", "name": "gemini-free", "key": "a", "max_request_day": 50}"#,
            #"{"provider": "gemini", "name": "gemini-paid", "key": "b"}"#)
        let (config, _) = try parseConfig(text)
        #expect(config.providers.map(\.name) == ["gemini-free", "gemini-paid"])
        #expect(config.providers.map(\.provider) == ["gemini", "gemini"])
    }
}
