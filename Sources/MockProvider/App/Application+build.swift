import Hummingbird
import Logging
import NIOCore

/// Builds the simulator's application; tests and the command share it.
func buildApplication(
    host: String,
    port: Int,
    config: MockConfig,
    logger: Logger,
    onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }
) -> some ApplicationProtocol {
    let simulator = Simulator(config: ConfigStore(config), limiter: RateLimiter(), stats: StatsRecorder())
    let router = Router(context: MockContext.self)
    OpenAIRoutes.add(to: router, simulator: simulator)
    AnthropicRoutes.add(to: router, simulator: simulator)
    GeminiRoutes.add(to: router, simulator: simulator)
    AdminRoutes.add(to: router, simulator: simulator)
    return Application(
        router: router,
        configuration: .init(address: .hostname(host, port: port), serverName: "mock-provider"),
        onServerRunning: { channel in
            onListening(host, channel.localAddress?.port ?? port)
        },
        logger: logger
    )
}
