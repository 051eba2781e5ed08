import Foundation
import KeyPool

/// The two store implementations the conformance suite runs against.
enum StoreKind: String, CaseIterable, Sendable {
    case redis
    case memory
}


/// Several store instances that share state the way replicas do: for Redis, separate clients
/// (each its own connection) on one real redis-server; for memory, one instance (a memory store
/// is one replica by definition). All share one manual clock.
struct StoreHarness: Sendable {
    let kind: StoreKind
    let clock: ManualStoreClock
    let stores: [any UsageStore]
    let server: RedisServer?

    /// 2026-11-22 12:00:00.250 UTC: mid-day, a quarter second into its second.
    static let noon: Int64 = 1_795_348_800_250

    init(_ kind: StoreKind, replicas: Int = 8, startMillis: Int64 = StoreHarness.noon) throws {
        self.kind = kind
        let clock = ManualStoreClock(millis: startMillis)
        self.clock = clock
        switch kind {
        case .redis:
            let server = try RedisServer()
            self.server = server
            stores = (0..<replicas).map { _ in
                var configuration = try! RedisConfiguration(url: server.url)
                configuration.poolSize = 1
                return RedisUsageStore(redis: RedisClient(configuration: configuration), testClock: clock)
            }
        case .memory:
            server = nil
            let store = MemoryUsageStore(clock: clock)
            stores = Array(repeating: store, count: replicas)
        }
    }

    var store: any UsageStore { stores[0] }

    static func pool(
        _ provider: String = "p", keys: Int, limits: KeyLimits, gap: Double = 5,
        zone: TimeZone = TimeZone(identifier: "UTC")!
    ) -> KeyPoolDescriptor {
        KeyPoolDescriptor(
            provider: provider, keyIDs: (0..<keys).map { KeyID.of("secret-\(provider)-\($0)") },
            limits: limits, gapPercentage: gap, timeZone: zone)
    }

    /// Fires `count` reserves at once, spread over the replicas, and returns the outcomes.
    func burst(_ pool: KeyPoolDescriptor, count: Int, tokens: Int = 10) async throws -> [Reservation] {
        try await withThrowingTaskGroup(of: Reservation.self) { group in
            for index in 0..<count {
                let store = stores[index % stores.count]
                group.addTask { try await store.reserve(pool, estimatedTokens: tokens) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    func usage(_ pool: KeyPoolDescriptor) async throws -> ProviderUsage {
        try await store.snapshot([pool])[0]
    }
}

extension Array where Element == Reservation {
    var leases: [Lease] { compactMap(\.lease) }

    var perKey: [String: Int] { leases.reduce(into: [:]) { $0[$1.keyID, default: 0] += 1 } }

    var retryAfters: [Int64] {
        compactMap {
            if case .refused(let retry, _) = $0 { return retry }
            return nil
        }
    }
}
