/// Faults to inject into answers.
///
/// Every field is optional so that layers can be merged: the config's global faults, then the
/// key's own faults, then the request's `x-mock-*` headers; a field set in a later layer wins.
struct Faults: Codable, Sendable, Equatable {
    /// Delay before the response head, in milliseconds.
    var latencyMs: Int?
    /// Extra random delay in `0...jitterMs` added to `latencyMs`.
    var jitterMs: Int?
    /// Delay between the response head and the first body byte.
    var ttfbMs: Int?
    /// Number of content pieces a streamed answer is split into (default: one per word).
    var chunks: Int?
    /// Delay between two SSE events of a stream.
    var chunkGapMs: Int?
    /// HTTP status to answer with instead of an answer (every request, or at `errorRate`).
    var status: Int?
    /// Fraction of requests (0...1) that fail with `status` (500 when no status is set).
    var errorRate: Double?
    /// Draw each request's failure at random (probability `errorRate`) instead of the
    /// deterministic every-n-th pattern.
    var errorRandom: Bool?
    /// `Retry-After` seconds on injected errors (429 / 503 / 529 default to 1).
    var retryAfter: Int?
    /// Close the connection after this many SSE events (or half the JSON body), without the end.
    var cutAfterChunks: Int?
    /// Stop sending after this many SSE events and keep the connection open until the client leaves.
    var stallAfterChunks: Int?
    /// After this many SSE events, send the API's own in-stream error event and end the stream
    /// cleanly: how providers report a failure once the answer has started.
    var streamErrorAfterChunks: Int?
    /// Never send the response head; hold the connection until the client gives up.
    var hang: Bool?
    /// SSE comment events (`: keep-alive`) sent before a stream's first event, `chunkGapMs`
    /// apart, as OpenRouter sends `: OPENROUTER PROCESSING` while a model queues.
    var keepaliveComments: Int?

    enum CodingKeys: String, CodingKey {
        case latencyMs = "latency_ms"
        case jitterMs = "jitter_ms"
        case ttfbMs = "ttfb_ms"
        case chunks
        case chunkGapMs = "chunk_gap_ms"
        case status
        case errorRate = "error_rate"
        case errorRandom = "error_random"
        case retryAfter = "retry_after"
        case cutAfterChunks = "cut_after_chunks"
        case stallAfterChunks = "stall_after_chunks"
        case streamErrorAfterChunks = "stream_error_after_chunks"
        case hang
        case keepaliveComments = "keepalive_comments"
    }

    /// This layer with every field that `other` sets taking precedence.
    func merged(with other: Faults?) -> Faults {
        guard let other else { return self }
        return Faults(
            latencyMs: other.latencyMs ?? latencyMs,
            jitterMs: other.jitterMs ?? jitterMs,
            ttfbMs: other.ttfbMs ?? ttfbMs,
            chunks: other.chunks ?? chunks,
            chunkGapMs: other.chunkGapMs ?? chunkGapMs,
            status: other.status ?? status,
            errorRate: other.errorRate ?? errorRate,
            errorRandom: other.errorRandom ?? errorRandom,
            retryAfter: other.retryAfter ?? retryAfter,
            cutAfterChunks: other.cutAfterChunks ?? cutAfterChunks,
            stallAfterChunks: other.stallAfterChunks ?? stallAfterChunks,
            streamErrorAfterChunks: other.streamErrorAfterChunks ?? streamErrorAfterChunks,
            hang: other.hang ?? hang,
            keepaliveComments: other.keepaliveComments ?? keepaliveComments
        )
    }

    /// True when the request is answered before any fault could apply: the common, fast path.
    var isEmpty: Bool { self == Faults() }
}
