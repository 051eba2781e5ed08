import Foundation
import Testing

@testable import KeyPool

/// The documented example at the repository root must stay valid with no environment at all,
/// so `make run` starts with it as shipped.
@Suite("Example config.json")
struct ExampleConfigTests {
    static let path = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config.json").path

    @Test func exampleIsValidWithoutEnvironment() throws {
        let (config, warnings) = try GatewayConfig.load(path: Self.path, environment: [:])
        // The one warning: the seed's access key is a placeholder to replace.
        #expect(warnings.map(\.message) == [
            "access_key is the example's published placeholder: anyone can use it to spend every provider key; replace it with 32 or more random characters (openssl rand -hex 24) before exposing the gateway",
        ])
        #expect(config.accessKeys == ["your-proxy-access-key"])
        #expect(config.redisURL == nil)
        #expect(config.failover == FailoverConfig())  // spelled out with the defaults
        #expect(config.logging == LoggingConfig())  // likewise
        #expect(config.metrics == MetricsConfig())
        #expect(config.providers.map(\.name) == ["openrouter", "gemini", "openrouter-paid"])
        let paid = config.providers[2]
        #expect(paid.serves(model: "gpt-4o-mini"))
        #expect(paid.upstreamModel(for: "gpt-4o-mini") == "openai/gpt-4o-mini")
        #expect(paid.headers["HTTP-Referer"] == "https://example.com/my-app")
        #expect(config.isServed(model: "gpt-3.5-turbo:free"))
        #expect(config.isServed(model: "gemini-pro"))
    }
}
