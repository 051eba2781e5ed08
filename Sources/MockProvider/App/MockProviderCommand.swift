import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// `mock-provider --port N [--host H] [--config FILE]`: a local LLM provider for tests, demos
/// and benchmarks. See docs/mock-provider.md.
@main
struct MockProviderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock-provider",
        abstract: "Simulates the OpenAI-compatible, Anthropic and Gemini APIs, with limits and faults."
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free one; the chosen port is printed).")
    var port = 8090

    @Option(help: "JSON config file: keys, limits and faults.")
    var config: String?

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String = "warning"

    func run() async throws {
        let loaded = try config.map(MockConfig.load(path:)) ?? MockConfig()
        var logger = Logger(label: "mock-provider")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        let app = buildApplication(host: host, port: port, config: loaded, logger: logger) { host, port in
            // One line that launch scripts and test fixtures wait for, written unbuffered because
            // stdout is a pipe there and print() would hold it back.
            FileHandle.standardOutput.write(Data("mock-provider listening on \(host):\(port)\n".utf8))
        }
        // SIGTERM cancels at once instead of draining: hung and stalled answers would otherwise
        // hold a graceful shutdown for up to an hour. SIGINT still drains.
        let group = ServiceGroup(configuration: .init(
            services: [app], gracefulShutdownSignals: [.sigint], cancellationSignals: [.sigterm], logger: logger
        ))
        try await group.run()
    }
}
