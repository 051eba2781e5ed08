/// One provider's keys as the store sees them now.
public struct ProviderUsage: Sendable, Equatable {
    public struct KeyUsage: Sendable, Equatable {
        public let id: String
        public let limits: KeyLimits
        public var requestsMinute: Int
        public var tokensMinute: Int
        public var requestsDay: Int
        public var tokensDay: Int
        /// Requests counted since the store began (releases excluded).
        public var totalRequests: Int
        /// Tokens settled since the store began (actual usage, not estimates).
        public var totalTokens: Int
        public var cooldownUntilMillis: Int64?
        public var cooldownReason: String?

        /// Today's usage as the usage-gap rule sees it: percent of the daily request limit, else
        /// of the daily token limit, else the day's request count.
        public var dailyUsagePercentage: Double {
            UsageMath.dailyUsage(requests: requestsDay, tokens: tokensDay, limits: limits)
        }
    }

    public let provider: String
    public let currentKeyID: String?
    public var keys: [KeyUsage]
    /// Set while the provider's circuit breaker is open: when it closes (ms since 1970).
    public var circuitOpenUntilMillis: Int64? = nil
}

enum UsageMath {
    static func dailyUsage(requests: Int, tokens: Int, limits: KeyLimits) -> Double {
        if let perDay = limits.requestsPerDay { return Double(requests) * 100 / Double(perDay) }
        if let perDay = limits.tokensPerDay { return Double(tokens) * 100 / Double(perDay) }
        return Double(requests)
    }
}
