import Foundation
import Testing

@testable import KeyPool

@Suite("Config secrecy")
struct ConfigSecrecyTests {
    static let secret = "sk-SECRET-0123456789abcdef"

    /// Everything a config or its keys can turn into text.
    static func texts(of value: Any) -> [String] {
        var dumped = ""
        dump(value, to: &dumped)
        return [String(describing: value), String(reflecting: value), "\(value)", dumped]
    }

    @Test func providerKeyPrintsOnlyItsID() {
        let key = ProviderKey(secret: Self.secret)
        #expect(key.id == KeyID.of(Self.secret))
        for text in Self.texts(of: key) {
            #expect(!text.contains(Self.secret))
            #expect(text.contains("key:\(key.id)") || text.contains(key.id))
        }
        #expect(key.description == "key:\(key.id)")
        #expect(key.debugDescription == "key:\(key.id)")
        #expect(!(key is any Encodable))
    }

    @Test func parsedConfigNeverPrintsSecrets() throws {
        let text = """
            {"access_key": "\(Self.secret)-access", "redis": "redis://:\(Self.secret)-redis@127.0.0.1:6379",
             "provider_keys": [{"provider": "mycorp", "type": "openai", "base_url": "https://llm.example.com/v1",
                                "models": ["m"], "headers": {"X-Token": "\(Self.secret)-header"},
                                "key": ["\(Self.secret)"]}]}
            """
        let (config, warnings) = try parseConfig(text)
        #expect(config.providers[0].keys[0].secret == Self.secret)
        for text in Self.texts(of: config) + Self.texts(of: config.providers[0]) + warnings.map(\.message) {
            #expect(!text.contains(Self.secret))
        }
    }

    /// Every rule that looks at a key, an access key or a header value, each with the secret in it.
    @Test func problemsAndWarningsNeverContainSecrets() {
        let s = Self.secret
        let text = """
            {"access_key": "\(s)", "access_keys": ["\(s)", "\(s) x"],
             "redis": "\(s)",
             "provider_keys": [
               {"provider": "gemini", "key": ["\(s)", "\(s)", "\(s) ", "${\(s)", "\(s)${UNSET}"],
                "headers": {"X-A": "\(s)\\n", "Authorization": "\(s)"}, "base_url": "\(s)"},
               {"provider": "openrouter", "key": "\(s)", "max_request_min": "\(s)"},
               {"provider": "\(s)", "key": "other"}
             ]}
            """
        let problems = configProblems(text)
        #expect(problems.count >= 10)
        let error = ConfigError(problems: problems)
        for message in problems + [error.description, String(reflecting: error)] {
            #expect(!message.contains(s), "leaked in: \(message)")
        }
    }

    @Test func crossUpstreamDuplicateWarningHasNoSecret() throws {
        let text = configWithEntries(
            #"{"provider": "gemini", "key": "\#(Self.secret)"}"#, #"{"provider": "openrouter", "key": "\#(Self.secret)"}"#)
        let (_, warnings) = try parseConfig(text)
        #expect(warnings.map(\.message) == ["provider_keys[1].key duplicates provider_keys[0].key, which is sent to a different upstream"])
        #expect(!warnings.contains { $0.message.contains(Self.secret) || $0.path.contains(Self.secret) })
    }
}
