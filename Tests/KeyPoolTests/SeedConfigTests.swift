import Foundation
import Testing

@testable import KeyPool

@Suite("Seed config")
struct SeedConfigTests {
    @Test func seedParsesWithDefaults() throws {
        let (config, _) = try parseConfig(seedConfig)
        #expect(config.accessKeys == ["your-proxy-access-key"])
        #expect(config.usageGapPercentage == 5)
        #expect(config.autoModels == ["gpt-3.5-turbo:free", "gemini-pro"])
        #expect(config.fallbacks == [:])
        #expect(config.redisURL == nil)
        #expect(config.dailyResetTimeZone == TimeZone(identifier: "UTC"))
        #expect(config.defaultMaxTokens == 1024)
        #expect(config.server == ServerConfig())
        #expect(config.server.host == "127.0.0.1")
        #expect(config.server.port == 8080)
        #expect(config.server.maxBodyBytes == 4_194_304)
        #expect(config.server.upstreamTimeoutSeconds == 120)
        #expect(config.server.redisFailureMode == .failOpen)
        #expect(config.providers.count == 2)

        let limits = KeyLimits(requestsPerMinute: 15, tokensPerMinute: 150_000, requestsPerDay: 1500, tokensPerDay: nil)
        let openrouter = config.providers[0]
        #expect(openrouter.name == "openrouter")
        #expect(openrouter.provider == "openrouter")
        #expect(openrouter.type == .openai)
        #expect(openrouter.baseURL == "https://openrouter.ai/api/v1")
        #expect(openrouter.models == ["*/*", "*:free"])
        #expect(openrouter.modelMap == [:])
        #expect(openrouter.headers == [:])
        #expect(openrouter.limits == limits)
        #expect(openrouter.apiVersion == nil)
        #expect(openrouter.defaultMaxTokens == nil)
        #expect(openrouter.keys.map(\.id) == ["8174099687a2", "b10253764c8b"])
        #expect(openrouter.keys.map(\.secret) == ["key1", "key2"])

        let gemini = config.providers[1]
        #expect(gemini.name == "gemini")
        #expect(gemini.type == .gemini)
        #expect(gemini.baseURL == "https://generativelanguage.googleapis.com")
        #expect(gemini.models == ["gemini-*"])
        #expect(gemini.limits == limits)
        #expect(gemini.keys.map(\.id) == ["8174099687a2", "b10253764c8b"])
    }

    @Test func seedAutoModelsAreServedByTheirProviders() throws {
        let (config, _) = try parseConfig(seedConfig)
        #expect(config.providers.filter { $0.serves(model: "gpt-3.5-turbo:free") }.map(\.name) == ["openrouter"])
        #expect(config.providers.filter { $0.serves(model: "gemini-pro") }.map(\.name) == ["gemini"])
    }

    // The seed reuses the placeholders key1/key2 for two different upstreams: allowed, but
    // worth a warning in case a real key was pasted into the wrong entry. Its access key is the
    // published placeholder: allowed too, so the seed runs, but never to be deployed.
    @Test func seedPlaceholdersOnlyWarn() throws {
        let (_, warnings) = try parseConfig(seedConfig)
        #expect(warnings.map(\.message) == [
            "access_key is the example's published placeholder: anyone can use it to spend every provider key; replace it with 32 or more random characters (openssl rand -hex 24) before exposing the gateway",
            "provider_keys[1].key[0] duplicates provider_keys[0].key[0], which is sent to a different upstream",
            "provider_keys[1].key[1] duplicates provider_keys[0].key[1], which is sent to a different upstream",
        ])
        #expect(warnings.map(\.path) == ["access_key", "provider_keys[1].key[0]", "provider_keys[1].key[1]"])
    }

    @Test func hashIsTheFileDigestPrefix() throws {
        let (config, _) = try parseConfig(seedConfig)
        #expect(config.hash == String(KeyID.hexDigest(of: Data(seedConfig.utf8)).prefix(16)))
        #expect(config.hash.count == 16)
        let (changed, _) = try parseConfig(seedConfig + "\n")
        #expect(changed.hash != config.hash)
    }

    @Test func knownProviderDefaults() {
        let table = KnownProvider.all.map { "\($0.name) \($0.type) \($0.baseURL) \($0.models)" }
        #expect(table == [
            "openrouter openai https://openrouter.ai/api/v1 [\"*/*\", \"*:free\"]",
            "openai openai https://api.openai.com/v1 [\"gpt-*\", \"o1*\", \"o3*\", \"o4*\", \"text-embedding-*\"]",
            "groq openai https://api.groq.com/openai/v1 []",
            "gemini gemini https://generativelanguage.googleapis.com [\"gemini-*\"]",
            "anthropic anthropic https://api.anthropic.com [\"claude-*\"]",
        ])
    }

    @Test func loadReadsAFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keypool-config-\(UUID()).json").path
        try Data(seedConfig.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (loaded, _) = try GatewayConfig.load(path: path, environment: [:])
        let (parsed, _) = try parseConfig(seedConfig)
        #expect(loaded == parsed)
    }

    @Test func loadReportsAMissingFile() {
        #expect(throws: ConfigError.self) { try GatewayConfig.load(path: "/nonexistent/config.json", environment: [:]) }
        do {
            _ = try GatewayConfig.load(path: "/nonexistent/config.json", environment: [:])
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems[0].hasPrefix("cannot read config file /nonexistent/config.json: "))
        }
    }
}
