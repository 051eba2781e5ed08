/// Per-key limits of one provider entry; `nil` means unlimited.
///
/// Minute limits are rolling 60 s windows; day limits count per calendar day in the config's
/// `daily_reset_timezone`, because providers reset daily quotas at a fixed hour.
public struct KeyLimits: Sendable, Hashable {
    /// `max_request_min`
    public var requestsPerMinute: Int?
    /// `max_token_min`
    public var tokensPerMinute: Int?
    /// `max_request_day`
    public var requestsPerDay: Int?
    /// `max_token_day` (an extension of the seed format)
    public var tokensPerDay: Int?

    public init(
        requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil,
        requestsPerDay: Int? = nil, tokensPerDay: Int? = nil
    ) {
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.requestsPerDay = requestsPerDay
        self.tokensPerDay = tokensPerDay
    }

    /// No limit at all.
    public static let unlimited = KeyLimits()
}
