import Foundation

/// What a store needs to know of one provider's keys: ids, limits, the gap rule and the day.
public struct KeyPoolDescriptor: Sendable, Equatable {
    public struct Key: Sendable, Equatable {
        public let id: String
        public let limits: KeyLimits

        public init(id: String, limits: KeyLimits) {
            self.id = id
            self.limits = limits
        }
    }

    /// The provider entry's name; also the Redis hash tag of all its keys.
    public let provider: String
    public let keys: [Key]
    public let gapPercentage: Double
    public let timeZone: TimeZone

    public init(provider: String, keys: [Key], gapPercentage: Double, timeZone: TimeZone = GatewayConfig.utc) {
        self.provider = provider
        self.keys = keys
        self.gapPercentage = gapPercentage
        self.timeZone = timeZone
    }

    public init(_ provider: ProviderConfig, in config: GatewayConfig) {
        self.init(
            provider: provider.name,
            keys: provider.keys.map { Key(id: $0.id, limits: provider.limits) },
            gapPercentage: config.usageGapPercentage,
            timeZone: config.dailyResetTimeZone
        )
    }
}
