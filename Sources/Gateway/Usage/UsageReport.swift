import Foundation
import KeyPool

/// `GET /v1/usage`: the seed's shape (`overview` and `details` per provider; per key `requests`,
/// `usage_percentage`, `rate_limit_windows` {`req_min`, `req_day`}; `rate_limits`), with fields
/// added and none renamed: token windows, lifetime totals, cooldowns, key status, current key.
///
/// Built from the store alone (no replica-local state, no timestamps), so every replica answers
/// with the same bytes for the same state.
struct UsageReport: Encodable {
    struct Overview: Encodable {
        /// Requests counted today over all keys.
        let totalRequests: Int
        /// `max_request_day` times the key count; null when requests per day are unlimited.
        let totalCapacity: Int?
        /// `total_requests` as a percentage of `total_capacity` (null when unlimited).
        let usagePercentage: Double?
        let keys: Int
        /// Keys not cooling down and with room in every window now (none while the provider's
        /// circuit breaker is open).
        let availableKeys: Int

        enum CodingKeys: String, CodingKey {
            case totalRequests = "total_requests", totalCapacity = "total_capacity"
            case usagePercentage = "usage_percentage", keys, availableKeys = "available_keys"
        }

        // Absent values are written as null, so dashboards always find every field.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(totalRequests, forKey: .totalRequests)
            try container.encode(totalCapacity, forKey: .totalCapacity)
            try container.encode(usagePercentage, forKey: .usagePercentage)
            try container.encode(keys, forKey: .keys)
            try container.encode(availableKeys, forKey: .availableKeys)
        }
    }

    struct Windows: Encodable {
        let reqMin: Int
        let reqDay: Int
        let tokensMin: Int
        let tokensDay: Int

        enum CodingKeys: String, CodingKey {
            case reqMin = "req_min", reqDay = "req_day", tokensMin = "tokens_min", tokensDay = "tokens_day"
        }
    }

    struct Key: Encodable {
        /// Requests counted today (the day window).
        let requests: Int
        /// Today's usage as the usage-gap rule sees it: percent of `max_request_day`, else of
        /// `max_token_day`, else the day's request count.
        let usagePercentage: Double
        let rateLimitWindows: Windows
        /// `active`, `cooling_down` (a cooldown is running), `disabled` (the upstream rejected
        /// the key: 401, 402 or 403; it gets no traffic until `cooldown_until`) or `limited`
        /// (a window is full).
        let status: String
        let cooldownUntil: String?
        let cooldownReason: String?
        /// Since the store began: requests (releases excluded) and settled tokens.
        let totalRequests: Int
        let totalTokens: Int

        enum CodingKeys: String, CodingKey {
            case requests, usagePercentage = "usage_percentage", rateLimitWindows = "rate_limit_windows", status
            case cooldownUntil = "cooldown_until", cooldownReason = "cooldown_reason"
            case totalRequests = "total_requests", totalTokens = "total_tokens"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(requests, forKey: .requests)
            try container.encode(usagePercentage, forKey: .usagePercentage)
            try container.encode(rateLimitWindows, forKey: .rateLimitWindows)
            try container.encode(status, forKey: .status)
            try container.encode(cooldownUntil, forKey: .cooldownUntil)
            try container.encode(cooldownReason, forKey: .cooldownReason)
            try container.encode(totalRequests, forKey: .totalRequests)
            try container.encode(totalTokens, forKey: .totalTokens)
        }
    }

    struct RateLimits: Encodable {
        let maxRequestMin: Int?
        let maxRequestDay: Int?
        let maxTokenMin: Int?
        let maxTokenDay: Int?

        enum CodingKeys: String, CodingKey {
            case maxRequestMin = "max_request_min", maxRequestDay = "max_request_day"
            case maxTokenMin = "max_token_min", maxTokenDay = "max_token_day"
        }

        // Unlimited is written as null rather than left out, so dashboards see every field.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(maxRequestMin, forKey: .maxRequestMin)
            try container.encode(maxRequestDay, forKey: .maxRequestDay)
            try container.encode(maxTokenMin, forKey: .maxTokenMin)
            try container.encode(maxTokenDay, forKey: .maxTokenDay)
        }
    }

    struct Detail: Encodable {
        let keys: [String: Key]
        let rateLimits: RateLimits
        let currentKey: String?
        let type: String
        /// Set while the provider's circuit breaker is open (every key failed recently): no
        /// request goes to it until then.
        let circuitOpenUntil: String?

        enum CodingKeys: String, CodingKey {
            case keys, rateLimits = "rate_limits", currentKey = "current_key", type, circuitOpenUntil = "circuit_open_until"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(keys, forKey: .keys)
            try container.encode(rateLimits, forKey: .rateLimits)
            try container.encode(currentKey, forKey: .currentKey)
            try container.encode(type, forKey: .type)
            try container.encode(circuitOpenUntil, forKey: .circuitOpenUntil)
        }
    }

    let overview: [String: Overview]
    let details: [String: Detail]

    init(_ usage: [ProviderUsage], providers: [ProviderConfig], nowMillis: Int64) {
        var overview: [String: Overview] = [:]
        var details: [String: Detail] = [:]
        for provider in usage {
            let config = providers.first { $0.name == provider.provider }
            let limits = provider.keys.first?.limits ?? config?.limits ?? .unlimited
            var keys: [String: Key] = [:]
            var available = 0
            for key in provider.keys {
                let cooling = (key.cooldownUntilMillis ?? 0) > nowMillis
                let full = Self.isFull(key)
                let disabled = cooling && key.cooldownReason == UpstreamFailure.Kind.keyRejected.rawValue
                let status = disabled ? "disabled" : cooling ? "cooling_down" : full ? "limited" : "active"
                if status == "active" { available += 1 }
                keys[key.id] = Key(
                    requests: key.requestsDay,
                    usagePercentage: Self.round(key.dailyUsagePercentage),
                    rateLimitWindows: Windows(
                        reqMin: key.requestsMinute, reqDay: key.requestsDay,
                        tokensMin: key.tokensMinute, tokensDay: key.tokensDay),
                    status: status,
                    cooldownUntil: cooling ? key.cooldownUntilMillis.map(Self.iso8601) : nil,
                    cooldownReason: cooling ? key.cooldownReason : nil,
                    totalRequests: key.totalRequests, totalTokens: key.totalTokens)
            }
            if (provider.circuitOpenUntilMillis ?? 0) > nowMillis { available = 0 }
            let requests = provider.keys.reduce(0) { $0 + $1.requestsDay }
            let capacity = limits.requestsPerDay.map { $0 * provider.keys.count }
            overview[provider.provider] = Overview(
                totalRequests: requests, totalCapacity: capacity,
                usagePercentage: capacity.map { $0 > 0 ? Self.round(Double(requests) * 100 / Double($0)) : 0 },
                keys: provider.keys.count, availableKeys: available)
            details[provider.provider] = Detail(
                keys: keys,
                rateLimits: RateLimits(
                    maxRequestMin: limits.requestsPerMinute, maxRequestDay: limits.requestsPerDay,
                    maxTokenMin: limits.tokensPerMinute, maxTokenDay: limits.tokensPerDay),
                // After a rotation the stored current key may be one the config no longer has,
                // until the next reserve picks another: never name a key that is not listed.
                currentKey: provider.currentKeyID.flatMap { id in provider.keys.contains { $0.id == id } ? id : nil },
                type: config?.type.rawValue ?? "openai",
                circuitOpenUntil: provider.circuitOpenUntilMillis.flatMap { $0 > nowMillis ? Self.iso8601($0) : nil })
        }
        self.overview = overview
        self.details = details
    }

    private static func isFull(_ key: ProviderUsage.KeyUsage) -> Bool {
        let limits = key.limits
        if let limit = limits.requestsPerMinute, key.requestsMinute >= limit { return true }
        if let limit = limits.tokensPerMinute, key.tokensMinute >= limit { return true }
        if let limit = limits.requestsPerDay, key.requestsDay >= limit { return true }
        if let limit = limits.tokensPerDay, key.tokensDay >= limit { return true }
        return false
    }

    /// Two decimals: enough for a dashboard, and stable across replicas' float formatting.
    private static func round(_ value: Double) -> Double { (value * 100).rounded() / 100 }

    private static func iso8601(_ millis: Int64) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000).formatted(.iso8601)
    }
}
