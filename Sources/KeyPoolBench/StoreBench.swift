import ArgumentParser
import Foundation
import KeyPool

/// reserve+settle pairs through a store, as the gateway's hot path does them.
struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Throughput of reserve+settle pairs (or reserves alone) on the Redis or memory store."
    )

    @Option(help: "redis or memory") var store = "redis"
    @Option(help: "Redis URL (redis store)") var url = "redis://127.0.0.1:6379"
    @Option(help: "Keys in the provider's pool") var keys = 10
    @Option(help: "Concurrent caller tasks") var concurrency = 1
    @Option(help: "Total pairs") var requests = 20_000
    @Option(help: "pairs (reserve then settle) or reserve (reserves only)") var mode = "pairs"
    @Option(help: "Provider name (a separate hash tag per run keeps runs independent)") var provider = "bench"

    func run() async throws {
        let usageStore: any UsageStore
        switch store {
        case "redis": usageStore = RedisUsageStore(redis: try RedisClient(url: url))
        case "memory": usageStore = MemoryUsageStore()
        default: throw ValidationError("unknown store \(store)")
        }
        // Limits far above the load, so every window is checked and none refuses.
        let limits = KeyLimits(requestsPerMinute: 1_000_000_000, tokensPerMinute: 1_000_000_000_000, requestsPerDay: 1_000_000_000)
        let pool = KeyPoolDescriptor(
            provider: provider, keyIDs: (0..<keys).map { KeyID.of("bench-key-\($0)") },
            limits: limits, gapPercentage: 5)
        let settle = mode == "pairs"
        let call: @Sendable () async throws -> Void = {
            guard let lease = try await usageStore.reserve(pool, estimatedTokens: 100).lease else {
                throw ValidationError("refused")
            }
            if settle { try await usageStore.settle(lease, actualTokens: 80) }
        }
        for _ in 0..<500 { try await call() }
        let result = try await LoadRunner.run(concurrency: concurrency, requests: requests, call: call)
        print(result.json([
            "bench": "store", "store": store, "keys": keys, "concurrency": concurrency, "mode": mode,
        ]))
    }
}
