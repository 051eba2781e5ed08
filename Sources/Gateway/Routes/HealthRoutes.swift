import Hummingbird
import KeyPool

/// `GET /health` (liveness, config hash, store status) and `GET /ready` (readiness: fails while
/// the shared store is away in fail-closed mode, so a load balancer stops sending traffic that
/// would only get 503s, and while the replica drains for shutdown). Neither needs an access key,
/// and neither says anything secret.
struct HealthRoutes: Sendable {
    let state: GatewayState

    struct Store: Encodable {
        let type: String
        let status: String
        let mode: String?
        let error: String?
        /// Settles Redis could not take (during an outage), waiting to be made; null for the
        /// memory store.
        var keptSettles: Int? = nil

        // `mode` and `error` are null rather than absent for the memory store and a healthy Redis.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(type, forKey: .type)
            try container.encode(status, forKey: .status)
            try container.encode(mode, forKey: .mode)
            try container.encode(error, forKey: .error)
            try container.encode(keptSettles, forKey: .keptSettles)
        }

        enum CodingKeys: String, CodingKey { case type, status, mode, error, keptSettles = "kept_settles" }
    }

    struct Health: Encodable {
        let status: String
        let configHash: String
        let store: Store
        /// Set by a failed reload; the running config (`config_hash`) is then still the old one.
        let lastReloadError: String?
        /// Fields of the running file read only at start-up that differ from what this process
        /// started with (`ConfigReloader.restartOnlyChanges`): the hash alone would say the
        /// replica runs the file, when part of it waits for a restart.
        var restartRequired: [String] = []

        enum CodingKeys: String, CodingKey {
            case status, configHash = "config_hash", store, lastReloadError = "last_reload_error"
            case restartRequired = "restart_required"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(status, forKey: .status)
            try container.encode(configHash, forKey: .configHash)
            try container.encode(store, forKey: .store)
            try container.encode(lastReloadError, forKey: .lastReloadError)
            try container.encode(restartRequired, forKey: .restartRequired)
        }
    }

    func register(on router: Router<GatewayContext>) {
        router.getAndHead("/health") { _, _ -> Response in
            try JSONResponse.make(health())
        }
        router.getAndHead("/ready") { _, _ -> Response in
            let health = health()
            // A replica that is draining takes no new work: a load balancer that still reaches
            // it (over a kept-alive connection) is told to look elsewhere.
            let status = state.drain.phase != .serving ? "draining" : state.isReady ? "ready" : "unavailable"
            return try JSONResponse.make(
                ["status": status, "store": health.store.status],
                status: status == "ready" ? .ok : .serviceUnavailable)
        }
    }

    func health() -> Health {
        var health = storeHealth()
        health.restartRequired = ConfigReloader.restartOnlyChanges(from: state.startupConfig, to: state.current.config)
        return health
    }

    private func storeHealth() -> Health {
        let hash = state.current.config.hash
        let reloadError = state.lastReloadError
        guard let redis = state.redis else {
            return Health(status: "ok", configHash: hash, store: Store(type: "memory", status: "ok", mode: nil, error: nil), lastReloadError: reloadError)
        }
        let mode = state.failureMode.rawValue
        let kept = (state.store as? FallbackUsageStore)?.keptSettles ?? 0
        if redis.isConnected {
            return Health(
                status: "ok", configHash: hash, store: Store(type: "redis", status: "ok", mode: mode, error: nil, keptSettles: kept),
                lastReloadError: reloadError)
        }
        // Fail-open serves on per-replica windows while Redis is away; fail-closed refuses.
        let status = state.failureMode == .failOpen ? "degraded" : "unavailable"
        // Only the kind of failure: the full message names Redis's host and port, and /health
        // answers without an access key. The log has the details.
        let error = redis.lastError?.code.description ?? "connecting"
        return Health(
            status: status, configHash: hash,
            store: Store(type: "redis", status: "unavailable", mode: mode, error: error, keptSettles: kept),
            lastReloadError: reloadError)
    }
}
