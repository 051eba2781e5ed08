import Foundation
import KeyPool
import Testing

@testable import Gateway

@Suite("Config reload: what the log says changed")
struct ConfigReloaderTests {
    func config(_ json: String) throws -> GatewayConfig {
        try GatewayConfig.parse(data: Data(json.utf8), environment: [:]).0
    }

    @Test func keyChangesByKeyIDOnly() throws {
        let old = try config(#"{"access_key": "a", "provider_keys": [{"provider": "openai", "key": ["sk-1", "sk-2"]}, {"provider": "groq", "key": "gsk-1"}]}"#)
        let new = try config(#"{"access_key": "a", "provider_keys": [{"provider": "openai", "key": ["sk-2", "sk-3"]}, {"provider": "anthropic", "key": "sk-ant"}]}"#)
        let text = ConfigReloader.keyChanges(from: old, to: new)
        #expect(text == "openai: added \(KeyID.of("sk-3")) removed \(KeyID.of("sk-1")); groq: removed \(KeyID.of("gsk-1")); anthropic: added \(KeyID.of("sk-ant"))")
        #expect(!text.contains("sk-"))  // ids are hex: no key, nor a piece of one
        #expect(ConfigReloader.keyChanges(from: old, to: old) == "no keys added or removed")
    }

    @Test func settingsReadOnlyAtStartUpAreNamed() throws {
        let old = try config(#"{"access_key": "a", "provider_keys": [{"provider": "openai", "key": "sk-1"}]}"#)
        let new = try config(#"""
            {"access_key": "b", "redis": "redis://127.0.0.1:6379", "server": {"port": 9000, "upstream_timeout_seconds": 5, "client_idle_timeout_seconds": 9},
             "provider_keys": [{"provider": "openai", "key": "sk-1", "max_request_min": 3}]}
            """#)
        #expect(ConfigReloader.restartOnlyChanges(from: old, to: new) == [
            "redis", "server.port", "server.upstream_timeout_seconds", "server.client_idle_timeout_seconds",
        ])
        #expect(ConfigReloader.restartOnlyChanges(from: old, to: old).isEmpty)
    }
}
