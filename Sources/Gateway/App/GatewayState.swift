import KeyPool
import Synchronization

/// What a request reads of the configuration, derived once per config (access key digests,
/// routing tables, key pools), so handlers do no per-request setup.
struct RunningConfig: Sendable {
    let config: GatewayConfig
    let accessKeys: AccessKeys
    let router: ModelRouter
    /// Provider entry name -> its keys' secrets by key id, for the upstream Authorization header.
    let secrets: [String: [String: String]]
    /// For logged bodies (`logging.bodies`): redaction and every secret of this config.
    let redactor: BodyRedactor
    /// `metrics.bearer_token`, kept as a digest like the access keys; nil when /metrics is open.
    let metricsToken: AccessKeys?

    init(_ config: GatewayConfig) {
        self.config = config
        accessKeys = AccessKeys(config.accessKeys)
        router = ModelRouter(config: config)
        var secrets: [String: [String: String]] = [:]
        for provider in config.providers {
            var byID: [String: String] = [:]
            for key in provider.keys { byID[key.id] = key.secret }
            secrets[provider.name] = byID
        }
        self.secrets = secrets
        redactor = BodyRedactor(config)
        metricsToken = config.metrics.bearerToken.map { AccessKeys([$0]) }
    }

    var pools: [KeyPoolDescriptor] { config.providers.map { router.pool(for: $0) } }
}

/// What the request handlers share: the running config, the store and the upstream client.
///
/// Each request takes the running config once, at its start, and finishes on it even if a
/// reload swaps it meanwhile.
final class GatewayState: Sendable {
    private let running: Mutex<RunningConfig>
    /// Why the last reload was refused (the running config is then still the previous one);
    /// nil once a reload succeeds.
    private let reloadError = Mutex<String?>(nil)
    let store: any UsageStore
    /// The config this process started with: what the settings read only at start-up still
    /// follow, whatever reloads changed since (see `/health`'s `restart_required`).
    let startupConfig: GatewayConfig
    /// Set when Redis is configured (for /health); nil with the in-memory store.
    let redis: RedisClient?
    let failureMode: RedisFailureMode
    let http: UpstreamClient
    /// Set off by SIGTERM; open streams register with it.
    let drain = ShutdownDrain()
    /// Settles running beside answers already handed to the server; shutdown waits for them.
    let settles = PendingSettles()
    let metrics: GatewayMetrics
    /// The log handlers' level and format, updated by reloads.
    let logSettings: LogSettings

    init(
        config: GatewayConfig, store: any UsageStore, redis: RedisClient?, http: UpstreamClient,
        metrics: GatewayMetrics, logSettings: LogSettings
    ) {
        running = Mutex(RunningConfig(config))
        startupConfig = config
        self.store = store
        self.redis = redis
        self.failureMode = config.server.redisFailureMode
        self.http = http
        self.metrics = metrics
        self.logSettings = logSettings
    }

    var current: RunningConfig { running.withLock { $0 } }

    /// Swaps the running config in one step; requests already started finish on the one they
    /// took. The derived tables are built before the lock, so requests never wait on them.
    func replace(with config: GatewayConfig) {
        let next = RunningConfig(config)
        running.withLock { $0 = next }
        reloadError.withLock { $0 = nil }
        logSettings.apply(config.logging)
    }

    var lastReloadError: String? {
        get { reloadError.withLock { $0 } }
    }

    func reloadFailed(_ message: String) {
        reloadError.withLock { $0 = message }
    }

    /// Whether proxied requests can be served: false only while Redis is away in fail-closed mode.
    var isReady: Bool {
        guard let redis, failureMode == .failClosed else { return true }
        return redis.isConnected
    }
}
