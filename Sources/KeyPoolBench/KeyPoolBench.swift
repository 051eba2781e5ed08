import ArgumentParser
import Foundation
import KeyPool

/// Load generator for the KeyPool layer, driven by `make bench` (bench/run_bench.py).
/// Each subcommand prints one JSON object per measured scenario on stdout.
@main
struct KeyPoolBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keypool-bench",
        abstract: "Benchmarks of the Redis client and the key pool stores.",
        subcommands: [RedisClientBench.self, StoreBench.self]
    )
}

struct RedisClientBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis",
        abstract: "Throughput and latency of INCR, a small EVALSHA or PING through the Redis client."
    )

    @Option(help: "Redis URL") var url = "redis://127.0.0.1:6379"
    @Option(help: "incr, evalsha or ping") var command = "incr"
    @Option(help: "Concurrent caller tasks") var concurrency = 1
    @Option(help: "Total calls") var requests = 100_000
    @Option(help: "Connections in the client's pool") var pool = 1

    func run() async throws {
        var configuration = try RedisConfiguration(url: url)
        configuration.poolSize = pool
        let client = RedisClient(configuration: configuration)
        let script = RedisScript("return redis.call('INCR', KEYS[1])")
        let call: @Sendable () async throws -> Void
        switch command {
        case "incr": call = { _ = try await client.send(["INCR", "bench:incr"]).checked() }
        case "evalsha":
            try await client.load(script)
            call = { _ = try await client.evalSHA(script, keys: ["bench:eval"], arguments: []).checked() }
        case "ping": call = { _ = try await client.send(["PING"]).checked() }
        default: throw ValidationError("unknown command \(command)")
        }
        // Warm up: connections up, caches hot.
        for _ in 0..<1_000 { try await call() }

        let result = try await LoadRunner.run(concurrency: concurrency, requests: requests, call: call)
        print(result.json(["bench": "redis-client", "command": command, "concurrency": concurrency, "pool": pool]))
    }
}
