/// Defaults for providers that a config entry may name without `type` or `base_url`.
///
/// `models` is what an entry serves when it gives no `models` of its own. The lists are globs
/// (`*` matches any run of characters, `/` included) that follow each provider's naming. They
/// can overlap (`gpt-3.5-turbo:free` matches openai's `gpt-*` and openrouter's `*:free`); a name
/// several entries serve is tried on each in file order (docs/configuration.md says so).
public struct KnownProvider: Sendable, Equatable {
    public let name: String
    public let type: ProviderType
    public let baseURL: String
    public let models: [String]

    /// All known providers, in the order the documentation lists them.
    public static let all: [KnownProvider] = [
        // OpenRouter names its models `vendor/model` and their free variants `...:free`; the
        // seed's `gpt-3.5-turbo:free` is one of the latter, so both shapes are served by default.
        KnownProvider(
            name: "openrouter", type: .openai, baseURL: "https://openrouter.ai/api/v1",
            models: ["*/*", "*:free"]),
        KnownProvider(
            name: "openai", type: .openai, baseURL: "https://api.openai.com/v1",
            models: ["gpt-*", "o1*", "o3*", "o4*", "text-embedding-*"]),
        // Groq hosts a changing mix of open models whose names overlap other providers';
        // guessing would steal names, so an entry lists the ones it wants.
        KnownProvider(name: "groq", type: .openai, baseURL: "https://api.groq.com/openai/v1", models: []),
        KnownProvider(
            name: "gemini", type: .gemini, baseURL: "https://generativelanguage.googleapis.com",
            models: ["gemini-*"]),
        KnownProvider(
            name: "anthropic", type: .anthropic, baseURL: "https://api.anthropic.com",
            models: ["claude-*"]),
    ]

    /// The known provider called `name` (exact, lower case), if any.
    public static func named(_ name: String) -> KnownProvider? {
        all.first { $0.name == name }
    }
}
