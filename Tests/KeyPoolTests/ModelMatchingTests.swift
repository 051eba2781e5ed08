import Testing

@testable import KeyPool

@Suite("Model matching")
struct ModelMatchingTests {
    @Test(arguments: [
        ("openai/*", "openai/gpt-4o", true),
        ("openai/*", "openai/", true),
        ("openai/*", "openai", false),
        ("openai/*", "anthropic/claude-3", false),
        ("gemini-*", "gemini-1.5-pro", true),
        ("gemini-*", "gemini-", true),
        ("gemini-*", "gemini", false),
        ("gemini-*", "models/gemini-pro", false),
        ("gpt-4o", "gpt-4o", true),
        ("gpt-4o", "gpt-4o-mini", false),
        ("gpt-4o", "GPT-4o", false),
        ("*", "anything/at:all", true),
        ("*", "", true),
        ("*/*", "meta-llama/llama-3-8b:free", true),
        ("*/*", "gpt-3.5-turbo", false),
        ("*:free", "gpt-3.5-turbo:free", true),
        ("*:free", "gpt-3.5-turbo:freeish", false),
        ("o1*", "o1-mini", true),
        ("a*b*c", "a-b-b-c", true),
        ("a*b*c", "a-c-b", false),
        ("**x", "yyx", true),
        ("a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
    ])
    func glob(pattern: String, name: String, matches: Bool) {
        #expect(ModelGlob.matches(pattern: pattern, name: name) == matches)
    }

    static let entry = ProviderConfig(
        name: "openrouter", provider: "openrouter", type: .openai, baseURL: "https://openrouter.ai/api/v1",
        models: ["openai/*", "gemini-*", "mistral-large"],
        modelMap: ["gpt-3.5-turbo:free": "openai/gpt-3.5-turbo", "gemini-pro": "google/gemini-pro"],
        keys: [ProviderKey(secret: "k")])

    @Test func servesListedModelsAndMappedNames() {
        #expect(Self.entry.serves(model: "openai/gpt-4o"))
        #expect(Self.entry.serves(model: "gemini-1.5-flash"))
        #expect(Self.entry.serves(model: "mistral-large"))
        #expect(Self.entry.serves(model: "gpt-3.5-turbo:free"))
        #expect(!Self.entry.serves(model: "mistral-large-latest"))
        #expect(!Self.entry.serves(model: "claude-3-opus"))
    }

    @Test func upstreamModelAppliesTheMap() {
        #expect(Self.entry.upstreamModel(for: "gpt-3.5-turbo:free") == "openai/gpt-3.5-turbo")
        #expect(Self.entry.upstreamModel(for: "gemini-pro") == "google/gemini-pro")
        #expect(Self.entry.upstreamModel(for: "openai/gpt-4o") == "openai/gpt-4o")
    }

    @Test func keyIDsAreStableSHA256Prefixes() {
        // Fixed expectations: ids must never change, or Redis counters would be orphaned.
        #expect(KeyID.of("key1") == "8174099687a2")
        #expect(KeyID.of("key2") == "b10253764c8b")
        #expect(KeyID.of("sk-or-v1-REPLACE-ME-1") == "9b24d1d3ffca")
        #expect(KeyID.of("") == "e3b0c44298fc")
        #expect(ProviderKey(secret: "key1").id == "8174099687a2")
        #expect(ProviderKey(secret: "key1") == ProviderKey(secret: "key1"))
        #expect(ProviderKey(secret: "key1") != ProviderKey(secret: "key2"))
    }
}
