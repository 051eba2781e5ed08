import HTTPTypes
import Hummingbird
import NIOCore

/// What differs between the OpenAI, Anthropic and Gemini APIs outside the answer itself:
/// where the key travels, the error shape and the rate-limit headers.
protocol ProviderDialect: Sendable {
    /// "openai", "anthropic" or "gemini": the name in stats.
    var name: String { get }
    /// The API key the request presents, if any.
    func apiKey(in request: Request) -> String?
    /// A header check the real API makes before anything else (Anthropic's version header).
    func precheck(_ request: Request) -> ProviderError?
    /// The JSON error body for a refusal.
    func errorBody(_ error: ProviderError) -> JSONValue
    /// Rate-limit headers to send with any answer to a limited key.
    func addLimitHeaders(_ limits: LimitStatus, to headers: inout HTTPFields)
    /// The refusal of a key the mock does not accept (a missing key is always a 401).
    func invalidKey() -> ProviderError
    /// The event a stream ends with when the provider fails after the answer has started
    /// (`stream_error_after_chunks`), in the API's own form.
    func streamErrorEvent() -> ByteBuffer
}

extension ProviderDialect {
    func precheck(_ request: Request) -> ProviderError? { nil }

    func invalidKey() -> ProviderError {
        ProviderError(status: 401, message: "Invalid API key (mock-provider).")
    }

    static var streamErrorMessage: String { "Injected fault: error event in the stream (mock-provider)." }
}
