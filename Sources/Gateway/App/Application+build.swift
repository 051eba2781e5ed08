import Foundation
import Hummingbird
import KeyPool
import Logging

/// Builds the gateway application from a validated config.
func buildApplication(
    config: GatewayConfig,
    environment: [String: String],
    logger: Logger
) async throws -> some ApplicationProtocol {
    let redisURL = config.redisURL ?? environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }
    let redis: RedisClient?
    if let redisURL {
        let client = try RedisClient(url: redisURL)
        logger.info("store: redis at \(client.configuration.redactedDescription)")
        redis = client
    } else {
        logger.info("store: in-memory (no redis configured; one replica only)")
        redis = nil
    }
    let state = GatewayState(config: config, redis: redis)

    let router = Router()
    HealthRoutes(state: state).register(on: router)
    return Application(
        router: router,
        configuration: .init(address: .hostname(config.server.host, port: config.server.port), serverName: "llm-gateway"),
        logger: logger
    )
}
