extension ConfigParser {
    static let loggingFields = ["level", "format", "requests", "bodies", "max_body_bytes", "redact_fields"]
    static let metricsFields = ["enabled", "bearer_token"]

    /// The optional `logging` object; every field has a default.
    mutating func loggingConfig(_ value: ConfigValue?) -> LoggingConfig {
        var logging = LoggingConfig()
        guard let members = object(value, at: "logging", orElse: "must be an object") else { return logging }
        warnUnknownFields(members, in: "logging", known: Self.loggingFields)

        let levelMessage = "must be one of \(LoggingConfig.levels.joined(separator: ", "))"
        if let level = string(members["level"], at: "logging.level", orElse: levelMessage) {
            if LoggingConfig.levels.contains(level) {
                logging.level = level
            } else {
                problem("logging.level \(levelMessage)")
            }
        }
        let formatMessage = "must be one of \(LoggingConfig.Format.allCases.map(\.rawValue).joined(separator: ", "))"
        if let name = string(members["format"], at: "logging.format", orElse: formatMessage) {
            if let format = LoggingConfig.Format(rawValue: name) {
                logging.format = format
            } else {
                problem("logging.format \(formatMessage)")
            }
        }
        if let flag = boolean(members["requests"], at: "logging.requests") { logging.requests = flag }
        if let flag = boolean(members["bodies"], at: "logging.bodies") { logging.bodies = flag }
        if let bytes = positiveInteger(members["max_body_bytes"], at: "logging.max_body_bytes") {
            logging.maxBodyBytes = bytes
        }
        if let fields = stringList(members["redact_fields"], at: "logging.redact_fields", allowEmpty: true) {
            logging.redactFields = fields
        }
        return logging
    }

    /// The optional `metrics` object; every field has a default.
    mutating func metricsConfig(_ value: ConfigValue?) -> MetricsConfig {
        var metrics = MetricsConfig()
        guard let members = object(value, at: "metrics", orElse: "must be an object") else { return metrics }
        warnUnknownFields(members, in: "metrics", known: Self.metricsFields)
        if let flag = boolean(members["enabled"], at: "metrics.enabled") { metrics.enabled = flag }
        metrics.bearerToken = string(members["bearer_token"], at: "metrics.bearer_token", expand: true)
        return metrics
    }

    /// `true` or `false` (not `1`, `"true"`).
    mutating func boolean(_ value: ConfigValue?, at path: String) -> Bool? {
        guard let value, !value.isNull else { return nil }
        guard case .bool(let flag) = value else {
            problem("\(path) must be true or false")
            return nil
        }
        return flag
    }
}
