import Hummingbird
import KeyPool
import Logging
import NIOCore

/// Builds the gateway application from a validated config; tests and the command share it.
/// The caller owns `http` (and shuts it down after the server stops).
func buildApplication(
    config: GatewayConfig,
    environment: [String: String],
    http: UpstreamClient,
    logger: Logger,
    metrics: GatewayMetrics = GatewayMetrics(),
    logSettings: LogSettings? = nil,
    onListening: @escaping @Sendable (Int) -> Void = { _ in }
) async throws -> (some ApplicationProtocol, GatewayState) {
    let logSettings = logSettings ?? LogSettings(config.logging)
    let redisURL = config.redisURL ?? environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }
    let state: GatewayState
    if let redisURL {
        let client = try RedisClient(url: redisURL)
        logger.info("store: redis at \(client.configuration.redactedDescription), \(config.server.redisFailureMode.rawValue)")
        let measured = MeasuredUsageStore(RedisUsageStore(redis: client), metrics: metrics)
        let store = FallbackUsageStore(primary: measured, mode: config.server.redisFailureMode, logger: logger)
        state = GatewayState(config: config, store: store, redis: client, http: http, metrics: metrics, logSettings: logSettings)
    } else {
        logger.info("store: in-memory (no redis configured; one replica only)")
        state = GatewayState(
            config: config, store: MemoryUsageStore(), redis: nil, http: http, metrics: metrics, logSettings: logSettings)
    }

    let router = Router(context: GatewayContext.self)
    router.add(middleware: ObservabilityMiddleware(state: state))
    router.add(middleware: ErrorMiddleware(routes: [
        ("/v1/chat/completions", .post), ("/chat/completions", .post), ("/v1/models", .get), ("/v1/models/", .get),
        ("/v1/usage", .get), ("/health", .get), ("/ready", .get), ("/metrics", .get),
    ]))
    HealthRoutes(state: state).register(on: router)
    ChatRoutes(proxy: ChatProxy(state: state)).register(on: router)
    ModelsRoutes(state: state).register(on: router)
    UsageRoutes(state: state).register(on: router)
    MetricsRoutes(state: state).register(on: router)
    let idle = TimeAmount.nanoseconds(Int64(config.server.clientIdleTimeoutSeconds * 1_000_000_000))
    let app = Application(
        router: router,
        server: GatewayHTTP1Channel.builder(.init(additionalChannelHandlers: [ContinueResponder()], idleTimeout: idle)),
        configuration: .init(address: .hostname(config.server.host, port: config.server.port), serverName: "llm-gateway"),
        onServerRunning: { channel in onListening(channel.localAddress?.port ?? config.server.port) },
        logger: logger
    )
    return (app, state)
}
