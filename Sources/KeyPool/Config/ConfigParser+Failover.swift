extension ConfigParser {
    static let failoverFields = [
        "max_attempts", "rate_limit_cooldown_seconds", "error_cooldown_seconds", "auth_disable_seconds",
        "max_cooldown_seconds", "circuit_breaker_seconds", "circuit_breaker_window_seconds",
    ]

    /// The optional `failover` object; every field has a default.
    mutating func failoverConfig(_ value: ConfigValue?) -> FailoverConfig {
        var failover = FailoverConfig()
        guard let members = object(value, at: "failover", orElse: "must be an object") else { return failover }
        warnUnknownFields(members, in: "failover", known: Self.failoverFields)

        if let attempts = positiveInteger(members["max_attempts"], at: "failover.max_attempts") {
            failover.maxAttempts = attempts
        }
        func seconds(_ field: String, allowZero: Bool = false) -> Double? {
            guard let value = members[field], !value.isNull else { return nil }
            // At most a year: these become milliseconds in an Int64 (a trap from 9.2e15 s).
            if let number = value.numberValue, number <= 31_536_000, allowZero ? number >= 0 : number > 0 {
                return number
            }
            problem("failover.\(field) must be a \(allowZero ? "non-negative" : "positive") number of seconds, at most 31536000 (a year)")
            return nil
        }
        if let value = seconds("rate_limit_cooldown_seconds") { failover.rateLimitCooldownSeconds = value }
        if let value = seconds("error_cooldown_seconds") { failover.errorCooldownSeconds = value }
        if let value = seconds("auth_disable_seconds") { failover.authDisableSeconds = value }
        if let value = seconds("max_cooldown_seconds") { failover.maxCooldownSeconds = value }
        if let value = seconds("circuit_breaker_seconds", allowZero: true) { failover.circuitBreakerSeconds = value }
        if let value = seconds("circuit_breaker_window_seconds") { failover.circuitBreakerWindowSeconds = value }
        return failover
    }
}
