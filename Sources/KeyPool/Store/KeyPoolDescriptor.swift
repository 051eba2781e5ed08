import Foundation

/// What a store needs to know of one provider entry: its key ids, their limits (one set per
/// entry, as config.json gives them), the usage-gap rule and the day's time zone.
public struct KeyPoolDescriptor: Sendable, Equatable {
    /// The provider entry's name; also the Redis hash tag of all its keys.
    public let provider: String
    public let keyIDs: [String]
    public let limits: KeyLimits
    public let gapPercentage: Double
    public let timeZone: TimeZone

    public init(
        provider: String, keyIDs: [String], limits: KeyLimits, gapPercentage: Double,
        timeZone: TimeZone = GatewayConfig.utc
    ) {
        self.provider = provider
        self.keyIDs = keyIDs
        self.limits = limits
        self.gapPercentage = gapPercentage
        self.timeZone = timeZone
    }

    public init(_ provider: ProviderConfig, in config: GatewayConfig) {
        self.init(
            provider: provider.name,
            keyIDs: provider.keys.map(\.id),
            limits: provider.limits,
            gapPercentage: config.usageGapPercentage,
            timeZone: config.dailyResetTimeZone
        )
    }
}
