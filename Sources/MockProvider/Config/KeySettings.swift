/// What the config says about one API key: its provider limits and its own faults.
struct KeySettings: Codable, Sendable, Equatable {
    /// Requests allowed in any rolling 60 s window; nil is unlimited.
    var requestsPerMinute: Int?
    /// Tokens (prompt + completion) allowed in any rolling 60 s window; nil is unlimited.
    var tokensPerMinute: Int?
    /// Faults for this key, layered over the config's global faults.
    var faults: Faults?

    enum CodingKeys: String, CodingKey {
        case requestsPerMinute = "requests_per_minute"
        case tokensPerMinute = "tokens_per_minute"
        case faults
    }
}
