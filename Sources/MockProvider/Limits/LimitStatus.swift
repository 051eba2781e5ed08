/// The state of a key's per-minute limits after an admission decision, enough to write each
/// provider's rate-limit headers and a `Retry-After`.
struct LimitStatus: Sendable {
    var requestLimit: Int?
    var requestsRemaining: Int = 0
    /// Seconds until the request window is empty.
    var requestsReset: Double = 0
    var tokenLimit: Int?
    var tokensRemaining: Int = 0
    /// Seconds until the token window is empty.
    var tokensReset: Double = 0
    /// Set when the request was refused: whole seconds until it would fit (at least 1).
    var retryAfter: Int?
    /// Which limit refused the request: "requests" or "tokens".
    var exceeded: String?

    static let unlimited = LimitStatus()

    var isLimited: Bool { requestLimit != nil || tokenLimit != nil }
}
