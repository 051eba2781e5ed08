import HTTPTypes
import NIOCore

/// What to send upstream for one chat completion: appended to the entry's `base_url`.
///
/// Built once per candidate, before a key is reserved for it: a request the candidate cannot
/// take is then passed over without a store round trip, and every key tried for the candidate
/// reuses the translation. So the key is not in it; `headers(key:)` adds it per try.
struct UpstreamRequest: Sendable {
    /// Path and query after `base_url`, e.g. `/v1beta/models/gemini-1.5-flash:generateContent`.
    var path: String
    /// The header that carries the provider key (`x-api-key`, `x-goog-api-key`, `Authorization`).
    var keyHeader: String
    /// What goes before the key in that header (`Bearer ` for `Authorization`).
    var keyPrefix = ""
    /// API headers besides the key (the provider entry's own `headers` are added by the proxy).
    var apiHeaders: [(name: String, value: String)]
    var body: ByteBuffer

    /// The headers for a try with `key`: the key's header first, then the API's.
    func headers(key: String) -> [(name: String, value: String)] {
        [(keyHeader, keyPrefix + key)] + apiHeaders
    }
}

/// Translates between OpenAI's chat completions API, which clients speak, and one provider's
/// native chat API (Gemini's Generative Language API, Anthropic's Messages API).
/// OpenAI-compatible upstreams need no adapter: their bodies pass through (`BodyRewriter`).
///
/// Every function is pure (no I/O), so each translation has golden tests of its own.
protocol ProviderAdapter: Sendable {
    /// The upstream request for an OpenAI chat completion request `body` (already validated
    /// into `summary`), without the key (see `UpstreamRequest`). Fields the provider cannot
    /// express throw a 400 naming the field, or are dropped as the adapter's docs say; never
    /// silently changed.
    func request(
        _ body: ByteBuffer, summary: ChatRequestSummary, upstreamModel: String, defaultMaxTokens: Int
    ) throws(GatewayError) -> UpstreamRequest

    /// A complete upstream answer as an OpenAI `chat.completion` body, with its usage.
    /// `model` is the name the client asked for (it goes in the answer's `model`).
    func response(_ body: ByteBuffer, model: String) throws(GatewayError) -> (body: ByteBuffer, usage: TokenUsage?)

    /// A translator for one streamed answer.
    func streamTranslator(model: String, includeUsage: Bool) -> any ChatStreamTranslator

    /// An upstream error answer (non-2xx) in OpenAI's shape, keeping the provider's message.
    /// The status the client gets is decided by the proxy (`UpstreamFailure`); this supplies
    /// the message, type and code for the 4xx answers that are relayed.
    func error(status: HTTPResponse.Status, body: ByteBuffer) -> GatewayError
}

/// Turns a provider's stream into OpenAI `chat.completion.chunk` events as they arrive.
protocol ChatStreamTranslator: Sendable {
    /// Upstream bytes in (any split), OpenAI SSE bytes out (`data: {...}\n\n` events, possibly
    /// none while an upstream event is incomplete). Throws when the upstream sends an error
    /// event or something that is not its stream format.
    mutating func feed(_ chunk: ByteBuffer) throws(GatewayError) -> ByteBuffer

    /// After the upstream's last byte: whatever is still due (the usage chunk when the client
    /// asked for it) and `data: [DONE]\n\n`.
    mutating func finish() -> ByteBuffer

    /// The usage the provider reported so far (for settle).
    var usage: TokenUsage? { get }

    /// OpenAI data events produced so far, `[DONE]` excluded (the settle estimate without usage).
    var dataEvents: Int { get }

    /// Whether the upstream's stream has reached its end (OpenAI's `[DONE]` or a finish reason,
    /// Anthropic's stop, Gemini's finish reason on every choice). A body that ends cleanly
    /// before that was cut short on the way (a proxy, a restart) and must not be passed off as
    /// a whole answer.
    var isComplete: Bool { get }

    /// The code of an error event the upstream ended its stream with that went to the client as
    /// it came (OpenAI-compatible streams: the event is already in the client's format); nil
    /// when there was none. Translators of other formats throw such errors from `feed` instead.
    var relayedError: String? { get }

    /// What that relayed error event says of the provider (rate limited, failing), when it says
    /// so in a way the gateway knows; nil otherwise. Before any content, the proxy fails over on
    /// it as on the same error sent as an HTTP status.
    var relayedFailure: UpstreamFailure.Kind? { get }
}

extension ChatStreamTranslator {
    var relayedError: String? { nil }
    var relayedFailure: UpstreamFailure.Kind? { nil }
}
