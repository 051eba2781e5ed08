import ArgumentParser
import Foundation
import Hummingbird
import KeyPool
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// `gateway --config PATH [--host H] [--port N] [--redis URL] [--check-config]`: thin entry
/// point; the app is built by `buildApplication` so tests can build it the same way.
@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "OpenAI-compatible gateway over many provider keys, with limits shared in Redis."
    )

    @Option(help: "Path to config.json") var config = "config.json"
    @Option(help: "Address to listen on (overrides server.host)") var host: String?
    @Option(help: "Port to listen on (overrides server.port)") var port: Int?
    @Option(help: "Redis URL (overrides the config's redis and REDIS_URL)") var redis: String?
    @Option(help: "Log level, overriding logging.level: trace, debug, info, notice, warning, error, critical")
    var logLevel: String?
    @Option(help: "Log format, overriding logging.format: json or text") var logFormat: String?
    @Flag(help: "Validate the config (and its ${ENV_VAR} references), print the problems, and exit: 0 if valid, 78 if not")
    var checkConfig = false

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of \(LoggingConfig.levels.joined(separator: ", "))")
        }
        if let logFormat, LoggingConfig.Format(rawValue: logFormat) == nil {
            throw ValidationError("--log-format must be json or text")
        }
        // The same rules as the config's server.port and redis, checked before anything starts
        // (a bad value would otherwise surface as a bind or connect failure, or a trap).
        if let port, !ServerConfig.ports.contains(port) {
            throw ValidationError("--port must be an integer from 1 to 65535")
        }
        if let redis, let reason = RedisConfiguration.problem(with: redis) {
            throw ValidationError("--redis \(reason)")
        }
    }

    func run() async throws {
        // Logging and metrics are process-wide: set up once, before anything logs. The level
        // and format follow the config (and its reloads) unless given here.
        let logSettings = LogSettings(
            LoggingConfig(), levelOverride: logLevel.flatMap(Logger.Level.init(rawValue:)),
            formatOverride: logFormat.flatMap(LoggingConfig.Format.init(rawValue:)))
        LoggingSystem.bootstrap { label in GatewayLogHandler(label: label, settings: logSettings) }
        defer { LogWriter.standardOutput.flush() }
        let metrics = GatewayMetrics()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
        let logger = Logger(label: "gateway")
        let environment = ProcessInfo.processInfo.environment
        let loaded: GatewayConfig
        do {
            let (parsed, warnings) = try GatewayConfig.load(path: config, environment: environment)
            for warning in warnings { logger.warning("config: \(warning)") }
            loaded = parsed
            logSettings.apply(parsed.logging)
        } catch {
            for problem in error.problems { logger.critical("config: \(problem)") }
            throw ExitCode(78)  // EX_CONFIG
        }
        if checkConfig {
            print("\(config): valid, hash \(loaded.hash)")
            return
        }
        let overrides = ConfigOverrides(host: host, port: port, redis: redis)
        var settings = loaded
        overrides.apply(to: &settings)
        let http = UpstreamClient(server: settings.server)
        do {
            let (app, state) = try await buildApplication(
                config: settings, environment: environment, http: http, logger: logger, metrics: metrics,
                logSettings: logSettings)
            // Edits of config.json are picked up while running (key rotation without restart).
            let reloader = ConfigReloader(
                path: config, environment: environment, overrides: overrides, state: state, logger: logger)
            let watcher = ConfigWatcher(reloader: reloader, logger: logger)
            watcher.start()
            signal(SIGHUP, SIG_IGN)
            let hangUp = DispatchSource.makeSignalSource(signal: SIGHUP)
            hangUp.setEventHandler { watcher.requestReload() }
            hangUp.resume()
            try await Self.serve(app, state: state, logger: logger)
            hangUp.cancel()
            watcher.stop()
            // Whole answers settle beside their write; the last ones may still be in flight.
            await state.settles.finish(within: .seconds(ShutdownDrain.graceAfterExpirySeconds))
            // Settles Redis could not take during an outage: a last attempt, then said lost.
            if let store = state.store as? FallbackUsageStore { await store.finishKeptSettles(within: .seconds(2)) }
            state.redis?.close()
        } catch {
            http.shutdown()
            throw error
        }
        http.shutdown()
    }

    /// Runs until SIGTERM or SIGINT, then drains: the server stops accepting, in-flight requests
    /// and streams finish (and settle) within `server.shutdown_drain_seconds`, streams still open
    /// after it end with an error event, and a few seconds later anything left is cancelled. A
    /// second SIGTERM or SIGINT ends the drain at once (a second Ctrl-C). Exits normally in
    /// every case, as a requested stop should.
    static func serve(_ app: some ApplicationProtocol, state: GatewayState, logger: Logger) async throws {
        let group = ServiceGroup(configuration: .init(
            services: [DrainingService(app: app, state: state, logger: logger)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        let running = Task { try await group.run() }
        state.drain.onForceStop { running.cancel() }
        // The service group acts on the first signal only; this counts them all (both see every
        // signal), so the second one is known whichever of the two handles a signal first.
        let secondSignal = Task {
            var seen = 0
            for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                seen += 1
                if seen >= 2 { state.drain.cutShort(logger: logger) }
            }
        }
        defer { secondSignal.cancel() }
        do {
            try await withTaskCancellationHandler {
                try await running.value
            } onCancel: {
                running.cancel()
            }
        } catch where state.drain.phase != .serving {
            logger.notice("stopped before every in-flight request finished: \(error)")
        }
        logger.notice("stopped")
    }
}

/// The application, with the drain clock started when its graceful shutdown begins.
private struct DrainingService<App: ApplicationProtocol>: Service {
    let app: App
    let state: GatewayState
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await app.run()
        } onGracefulShutdown: {
            state.drain.begin(seconds: state.current.config.server.shutdownDrainSeconds, logger: logger)
        }
    }
}
