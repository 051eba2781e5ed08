import KeyPool

/// Times each call of the Redis store (one EVALSHA round trip each) and counts the failed ones,
/// for `gateway_redis_command_duration_seconds` and `gateway_redis_errors_total`. Placed under
/// `FallbackUsageStore`, so the failures it counts are Redis's own, even when fail-open mode
/// then answers from the replica's memory.
struct MeasuredUsageStore: UsageStore {
    let inner: any UsageStore
    let metrics: GatewayMetrics

    init(_ inner: any UsageStore, metrics: GatewayMetrics) {
        self.inner = inner
        self.metrics = metrics
    }

    private func measure<T>(_ command: String, _ call: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        do {
            let result = try await call()
            metrics.redisCommand(command, seconds: RequestRecord.seconds(start.duration(to: .now)), failed: false)
            return result
        } catch {
            metrics.redisCommand(command, seconds: RequestRecord.seconds(start.duration(to: .now)), failed: true)
            throw error
        }
    }

    func reserve(_ pool: KeyPoolDescriptor, estimatedTokens: Int, excluding: Set<String>) async throws -> Reservation {
        try await measure("reserve") { try await inner.reserve(pool, estimatedTokens: estimatedTokens, excluding: excluding) }
    }

    func settle(_ lease: Lease, actualTokens: Int) async throws {
        try await measure("settle") { try await inner.settle(lease, actualTokens: actualTokens) }
    }

    func release(_ lease: Lease) async throws {
        try await measure("release") { try await inner.release(lease) }
    }

    func fail(_ lease: Lease, pool: KeyPoolDescriptor, failure: KeyFailure) async throws -> Bool {
        try await measure("fail") { try await inner.fail(lease, pool: pool, failure: failure) }
    }

    func snapshot(_ pools: [KeyPoolDescriptor]) async throws -> [ProviderUsage] {
        try await measure("snapshot") { try await inner.snapshot(pools) }
    }
}
