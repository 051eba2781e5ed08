/// The wire protocol an upstream speaks; it picks the adapter that talks to it.
public enum ProviderType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Any OpenAI-compatible API (OpenAI, OpenRouter, Groq, vLLM, ...): bodies are forwarded as they came.
    case openai
    /// Google's Gemini API (`generateContent`), translated to and from OpenAI's shape.
    case gemini
    /// Anthropic's Messages API, translated to and from OpenAI's shape.
    case anthropic

    public var description: String { rawValue }
}
