/// Which top-level OpenAI request members an adapter translates and which it drops; every other
/// member present with a non-null value is refused with a 400 naming it, unless its value is
/// OpenAI's default (`n: 1`, `logprobs: false`, `response_format: {"type":"text"}`,
/// `modalities: ["text"]`), which asks for nothing the provider would do differently.
/// Refusing unknown members too keeps the promise of `ProviderAdapter`: never silently changed.
struct FieldPolicy: Sendable {
    let translated: Set<String>
    let dropped: Set<String>

    func check(_ request: OpenAIChatRequest) throws(GatewayError) {
        for name in request.presentFields where !translated.contains(name) && !dropped.contains(name) {
            if let value = request.fields[name], Self.isDefault(name, value) { continue }
            throw OpenAIChatRequest.unsupported(name)
        }
    }

    /// Members both adapters drop: they tune sampling in ways a client cannot rely on anyway
    /// (logit_bias), or only concern OpenAI's own service (user, metadata, store, service_tier,
    /// prompt_cache_key, safety_identifier); stream_options is honoured by the stream translator
    /// (`includeUsage`), not sent upstream. Each adapter adds what only it cannot translate.
    static let commonDropped: Set<String> = [
        "user", "logit_bias", "service_tier", "stream_options", "metadata", "store", "prompt_cache_key", "safety_identifier",
    ]

    private static func isDefault(_ name: String, _ value: JSONValue) -> Bool {
        switch name {
        case "n": value.intValue == 1
        case "logprobs": value == .bool(false)
        case "response_format": value["type"]?.stringValue == "text"
        case "modalities": value == .array([.string("text")])
        default: false
        }
    }
}
