import Foundation

// Access keys, the Redis URL (it may hold a password) and provider keys never appear when a
// config is printed, dumped or logged.
extension GatewayConfig: CustomStringConvertible, CustomReflectable {
    public var description: String {
        "GatewayConfig(hash: \(hash), accessKeys: \(accessKeys.count) redacted, "
            + "redis: \(redisURL == nil ? "none" : "redacted"), providers: \(providers.map(\.name)), "
            + "autoModels: \(autoModels), usageGapPercentage: \(usageGapPercentage), "
            + "dailyResetTimeZone: \(dailyResetTimeZone.identifier), defaultMaxTokens: \(defaultMaxTokens))"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["description": description], displayStyle: .struct)
    }
}
