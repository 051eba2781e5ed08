import KeyPool

/// What the request handlers share: the running config and the store.
struct GatewayState: Sendable {
    let config: GatewayConfig
    let redis: RedisClient?
}
