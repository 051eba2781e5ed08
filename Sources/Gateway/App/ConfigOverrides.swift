import KeyPool

/// `gateway --host/--port/--redis`: applied to the config read at start-up and to every
/// reloaded one, so a reload never undoes them (nor reports them as changed).
struct ConfigOverrides: Sendable {
    var host: String?
    var port: Int?
    /// Wins over the file's `redis` and over REDIS_URL: a launcher (or a test) can point
    /// replicas at its own Redis without copying the operator's config.
    var redis: String?

    func apply(to config: inout GatewayConfig) {
        if let host { config.server.host = host }
        if let port { config.server.port = port }
        if let redis { config.redisURL = redis }
    }
}
