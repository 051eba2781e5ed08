import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import KeyPool
import Logging

/// `gateway --config PATH [--host H] [--port N]`: thin entry point; the app is built by
/// `buildApplication` so tests can build it the same way.
@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "OpenAI-compatible gateway over many provider keys, with limits shared in Redis."
    )

    @Option(help: "Path to config.json") var config = "config.json"
    @Option(help: "Address to listen on (overrides server.host)") var host: String?
    @Option(help: "Port to listen on (overrides server.port)") var port: Int?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical") var logLevel = "info"

    func run() async throws {
        var logger = Logger(label: "gateway")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let environment = ProcessInfo.processInfo.environment
        let loaded: GatewayConfig
        do {
            let (parsed, warnings) = try GatewayConfig.load(path: config, environment: environment)
            for warning in warnings { logger.warning("config: \(warning)") }
            loaded = parsed
        } catch {
            for problem in error.problems { logger.critical("config: \(problem)") }
            throw ExitCode(78)  // EX_CONFIG
        }
        var settings = loaded
        if let host { settings.server.host = host }
        if let port { settings.server.port = port }
        let http = UpstreamClient.make(server: settings.server)
        do {
            let (app, state) = try await buildApplication(
                config: settings, environment: environment, http: http, logger: logger)
            // Edits of config.json are picked up while running (key rotation without restart).
            let reloader = ConfigReloader(
                path: config, environment: environment, host: host, port: port, state: state, logger: logger)
            let watcher = ConfigWatcher(reloader: reloader, logger: logger)
            watcher.start()
            signal(SIGHUP, SIG_IGN)
            let hangUp = DispatchSource.makeSignalSource(signal: SIGHUP)
            hangUp.setEventHandler { watcher.requestReload() }
            hangUp.resume()
            // Graceful: on SIGTERM/SIGINT the server stops accepting, in-flight requests finish
            // (and settle), then the upstream client and Redis connections close.
            try await app.runService()
            hangUp.cancel()
            watcher.stop()
            state.redis?.close()
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }
}
