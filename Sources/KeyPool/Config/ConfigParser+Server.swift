extension ConfigParser {
    static let serverFields = ["host", "port", "max_body_bytes", "upstream_timeout_seconds", "redis_failure_mode", "upstream_connections_per_host", "shutdown_drain_seconds", "client_idle_timeout_seconds"]

    /// The optional `server` object; every field has a default.
    mutating func serverConfig(_ value: ConfigValue?) -> ServerConfig {
        var server = ServerConfig()
        guard let members = object(value, at: "server", orElse: "must be an object") else { return server }
        warnUnknownFields(members, in: "server", known: Self.serverFields)

        if let host = string(members["host"], at: "server.host") {
            server.host = host
        }
        if let value = members["port"], !value.isNull {
            if let port = value.integerValue, ServerConfig.ports.contains(port) {
                server.port = port
            } else {
                problem("server.port must be an integer from 1 to 65535")
            }
        }
        if let bytes = positiveInteger(members["max_body_bytes"], at: "server.max_body_bytes") {
            server.maxBodyBytes = bytes
        }
        if let value = members["upstream_timeout_seconds"], !value.isNull {
            // At most a day: the timeout becomes nanoseconds in an Int64 (a trap from 9.2e9 s).
            if let seconds = value.numberValue, seconds > 0, seconds <= 86_400 {
                server.upstreamTimeoutSeconds = seconds
            } else {
                problem("server.upstream_timeout_seconds must be a positive number of at most 86400 (a day)")
            }
        }
        if let value = members["shutdown_drain_seconds"], !value.isNull {
            if let seconds = value.numberValue, seconds >= 0, seconds <= 3600 {
                server.shutdownDrainSeconds = seconds
            } else {
                problem("server.shutdown_drain_seconds must be a number from 0 to 3600")
            }
        }
        if let value = members["client_idle_timeout_seconds"], !value.isNull {
            if let seconds = value.numberValue, seconds > 0, seconds <= 86_400 {
                server.clientIdleTimeoutSeconds = seconds
            } else {
                problem("server.client_idle_timeout_seconds must be a positive number of at most 86400 (a day)")
            }
        }
        if let count = positiveInteger(members["upstream_connections_per_host"], at: "server.upstream_connections_per_host") {
            server.upstreamConnectionsPerHost = count
        }
        let modes = RedisFailureMode.allCases.map(\.rawValue).joined(separator: ", ")
        let modeMessage = "must be one of \(modes)"
        if let name = string(members["redis_failure_mode"], at: "server.redis_failure_mode", orElse: modeMessage) {
            if let mode = RedisFailureMode(rawValue: name) {
                server.redisFailureMode = mode
            } else {
                problem("server.redis_failure_mode \(modeMessage)")
            }
        }
        return server
    }
}
