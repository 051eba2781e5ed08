import Foundation

/// The whole gateway configuration, parsed and validated from config.json.
///
/// Build one with `GatewayConfig.load(path:environment:)` or `parse(data:environment:)`; the
/// memberwise initializer is for tests and tools that assemble a config in code.
public struct GatewayConfig: Sendable, Equatable {
    /// Keys clients present as `Authorization: Bearer ...`: `access_key` plus `access_keys`.
    public var accessKeys: [String]
    /// `model_usage_gap_percentage`: how many points of daily usage the current key may run
    /// ahead of the least-used eligible key before traffic moves (0...100).
    public var usageGapPercentage: Double
    /// `auto-models`: the models tried, in order, for `"model": "auto-model"`.
    public var autoModels: [String]
    /// Requested model -> models tried after it, in order, when it cannot be served.
    public var fallbacks: [String: [String]]
    /// `redis`, else `REDIS_URL`; nil selects the in-memory store (one replica).
    public var redisURL: String?
    /// Day windows reset at midnight in this zone (`daily_reset_timezone`, default UTC).
    public var dailyResetTimeZone: TimeZone
    /// Completion tokens reserved for a request without `max_tokens` (`default_max_tokens`).
    public var defaultMaxTokens: Int
    public var providers: [ProviderConfig]
    public var server: ServerConfig
    public var failover: FailoverConfig
    public var logging: LoggingConfig
    public var metrics: MetricsConfig
    /// First 16 hex digits of the SHA-256 of the file's bytes, shown in /health so operators
    /// can tell which config each replica runs.
    public var hash: String

    public init(
        accessKeys: [String], usageGapPercentage: Double = 5, autoModels: [String] = [],
        fallbacks: [String: [String]] = [:], redisURL: String? = nil,
        dailyResetTimeZone: TimeZone = GatewayConfig.utc, defaultMaxTokens: Int = 1024,
        providers: [ProviderConfig], server: ServerConfig = ServerConfig(),
        failover: FailoverConfig = FailoverConfig(), logging: LoggingConfig = LoggingConfig(),
        metrics: MetricsConfig = MetricsConfig(), hash: String = ""
    ) {
        self.accessKeys = accessKeys
        self.usageGapPercentage = usageGapPercentage
        self.autoModels = autoModels
        self.fallbacks = fallbacks
        self.redisURL = redisURL
        self.dailyResetTimeZone = dailyResetTimeZone
        self.defaultMaxTokens = defaultMaxTokens
        self.providers = providers
        self.server = server
        self.failover = failover
        self.logging = logging
        self.metrics = metrics
        self.hash = hash
    }

    // `TimeZone(identifier: "UTC")` cannot fail; spelled once so nothing else force-unwraps.
    public static let utc = TimeZone(identifier: "UTC")!

    /// The entry called `name`, if any.
    public func provider(named name: String) -> ProviderConfig? {
        providers.first { $0.name == name }
    }

    /// Completion tokens to reserve for a request to `provider` that gives no `max_tokens`.
    public func defaultMaxTokens(for provider: ProviderConfig) -> Int {
        provider.defaultMaxTokens ?? defaultMaxTokens
    }

    /// Whether some entry can take a request for `model`: one serves it, or it has the form
    /// `name/model` with `name` an entry's name (naming an entry explicitly bypasses its list).
    public func isServed(model: String) -> Bool {
        if providers.contains(where: { $0.serves(model: model) }) { return true }
        guard let slash = model.firstIndex(of: "/") else { return false }
        let name = model[..<slash], rest = model[model.index(after: slash)...]
        return !rest.isEmpty && providers.contains { $0.name == name }
    }
}
