import HTTPTypes
import KeyPool
import Testing

@testable import Gateway

@Suite("Access keys")
struct AccessKeysTests {
    let keys = AccessKeys(["first-key", "second-key"])

    @Test func acceptsEveryConfiguredKey() throws {
        try keys.authorize([.authorization: "Bearer first-key"])
        try keys.authorize([.authorization: "bearer second-key"])
        try keys.authorize([HTTPField.Name("x-api-key")!: "second-key"])
    }

    /// An Authorization header that carries no Bearer key: named as the problem.
    @Test(arguments: ["", "Bearer", "Bearer ", "Basic Zmlyc3Qta2V5", "first-key"])
    func malformedAuthorizationIs401(header: String) {
        #expect(code(header) == "malformed")
    }

    @Test func missingKeyIs401() {
        #expect {
            try keys.authorize([:])
        } throws: { error in
            (error as? GatewayError)?.message.hasPrefix("Missing access key.") == true
        }
    }

    /// Basic credentials (a proxy in front) do not hide the key in x-api-key; a Bearer key wins.
    @Test func xAPIKeyIsReadPastAnotherScheme() throws {
        let apiKey = HTTPField.Name("x-api-key")!
        #expect(try keys.authorize([.authorization: "Basic dXNlcjpwYXNz", apiKey: "second-key"]) == KeyID.of("second-key"))
        #expect(try keys.authorize([.authorization: "Bearer first-key", apiKey: "second-key"]) == KeyID.of("first-key"))
        #expect(code("Bearer nope", apiKey: "second-key") == "wrong")
    }

    @Test func wrongKeyIsTheOther401() {
        #expect(code("Bearer nope") == "wrong")
    }

    /// The request log names the access key by this id, never by the key.
    @Test func authorizeReturnsTheIdOfTheKeyPresented() throws {
        #expect(try keys.authorize([.authorization: "Bearer first-key"]) == KeyID.of("first-key"))
        #expect(try keys.authorize([.authorization: "Bearer second-key"]) == KeyID.of("second-key"))
        #expect(keys.ids == [KeyID.of("first-key"), KeyID.of("second-key")])
        #expect(KeyID.of("first-key").count == 12)
        #expect(!KeyID.of("first-key").contains("first"))
    }

    /// Which of the two 401s `authorize` gives for an Authorization header.
    func code(_ header: String, apiKey: String? = nil) -> String {
        var headers: HTTPFields = [.authorization: header]
        if let apiKey { headers[HTTPField.Name("x-api-key")!] = apiKey }
        do {
            try keys.authorize(headers)
            return "accepted"
        } catch {
            #expect(error.status == .unauthorized && error.code == "invalid_api_key")
            if error.message.hasPrefix("Missing") { return "missing" }
            return error.message.hasPrefix("The Authorization header") ? "malformed" : "wrong"
        }
    }

    @Test(arguments: ["Bearer first-ke", "Bearer first-keyX", "Bearer FIRST-KEY"])
    func wrongKeyIs401(header: String) {
        #expect(!keys.matches(AccessKeys.presentedKey([.authorization: header])!))
    }
}

@Suite("Model routing")
struct ModelRouterTests {
    static func provider(_ name: String, models: [String], map: [String: String] = [:]) -> ProviderConfig {
        ProviderConfig(
            name: name, provider: name, type: .openai, baseURL: "http://127.0.0.1:1/v1", models: models,
            modelMap: map, keys: [ProviderKey(secret: "sk-\(name)")])
    }

    let router = ModelRouter(config: GatewayConfig(
        accessKeys: ["a"], autoModels: ["small", "big"], fallbacks: ["big": ["small"]],
        providers: [
            provider("one", models: ["small", "gpt-*"], map: ["big": "one-big-v2"]),
            provider("two", models: ["small"]),
        ]))

    func route(_ model: String) -> [String] {
        router.candidates(for: model).map { "\($0.provider.name):\($0.model)->\($0.upstreamModel)" }
    }

    @Test func explicitModelsFallbacksAndAutoModel() {
        #expect(route("small") == ["one:small->small", "two:small->small"])
        #expect(route("big") == ["one:big->one-big-v2", "one:small->small", "two:small->small"])
        #expect(route("gpt-4o") == ["one:gpt-4o->gpt-4o"])
        #expect(route("two/gpt-4o") == ["two:two/gpt-4o->gpt-4o"])
        #expect(route("auto-model") == ["one:small->small", "two:small->small", "one:big->one-big-v2"])
        #expect(route("unknown").isEmpty)
        #expect(route("three/x").isEmpty)
    }

    @Test func anEntrysNameInFrontBeatsGlobsButNotAnExactListing() {
        let router = ModelRouter(config: GatewayConfig(
            accessKeys: ["a"],
            providers: [
                Self.provider("openrouter", models: ["*/*", "*:free"]),
                Self.provider("openai", models: ["gpt-*"]),
                Self.provider("gemini", models: ["gemini-*"]),
                Self.provider("router2", models: ["openai/gpt-4o-mini"], map: ["gemini/flash": "google/gemini-flash"]),
            ]))
        func route(_ model: String) -> [String] {
            router.candidates(for: model).map { "\($0.provider.name):\($0.model)->\($0.upstreamModel)" }
        }
        #expect(route("gemini/gemini-1.5-pro") == ["gemini:gemini/gemini-1.5-pro->gemini-1.5-pro"])
        #expect(route("openai/gpt-4o") == ["openai:openai/gpt-4o->gpt-4o"])
        #expect(route("openrouter/openai/gpt-4o") == ["openrouter:openrouter/openai/gpt-4o->openai/gpt-4o"])
        #expect(route("meta-llama/llama-3-70b") == ["openrouter:meta-llama/llama-3-70b->meta-llama/llama-3-70b"])
        // Listed exactly somewhere: every entry serving the full name, in file order.
        #expect(route("openai/gpt-4o-mini") == [
            "openrouter:openai/gpt-4o-mini->openai/gpt-4o-mini", "router2:openai/gpt-4o-mini->openai/gpt-4o-mini",
        ])
        #expect(route("gemini/flash") == ["openrouter:gemini/flash->gemini/flash", "router2:gemini/flash->google/gemini-flash"])
        // No entry is called `gpt-4o`: the name as it is, to every entry whose globs match it.
        #expect(route("gpt-4o/x") == ["openrouter:gpt-4o/x->gpt-4o/x", "openai:gpt-4o/x->gpt-4o/x"])
    }

    @Test func listedModels() {
        #expect(router.listedModels().map(\.id) == ["small", "big", "auto-model"])
    }
}
