import Foundation
import KeyPool
import Logging
import Synchronization

/// Re-reads config.json and swaps it in when it changed and is valid.
///
/// A file that does not parse or validate (bad JSON, a half-written file, a failed check) leaves
/// the running config in place: the problems are logged and shown in /health's
/// `last_reload_error` until a good file arrives. Keys keep their counters across a swap (a key's
/// id comes from the key), so only the key sets, limits, models and access keys change.
final class ConfigReloader: Sendable {
    let path: String
    private let environment: [String: String]
    /// `gateway --host/--port/--redis`, applied to every reloaded config as to the first one.
    private let overrides: ConfigOverrides
    private let state: GatewayState
    private let logger: Logger
    /// The hash of the last file that failed, so a poll does not log the same problems again.
    private let lastFailedHash = Mutex<String?>(nil)

    init(path: String, environment: [String: String], overrides: ConfigOverrides, state: GatewayState, logger: Logger) {
        self.path = path
        self.environment = environment
        self.overrides = overrides
        self.state = state
        self.logger = logger
    }

    /// Reloads when the file's bytes differ from the running config's and from the last
    /// failed attempt's; `force` (SIGHUP) reloads and logs whatever the bytes.
    /// Blocking file I/O: called on the watcher's own thread, never on the cooperative pool.
    func reload(force: Bool = false) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            // A file between an editor's delete and its write, or a symlink mid-swap: the next
            // event or poll reads it again.
            refuse(["cannot read config file \(path): \(error.localizedDescription)"], hash: "unreadable", force: force)
            return
        }
        let hash = GatewayConfig.hash(of: data)
        let running = state.current.config
        if !force {
            if hash == running.hash, state.lastReloadError == nil { return }
            if hash == lastFailedHash.withLock({ $0 }) { return }
        }
        let parsed: GatewayConfig
        do {
            let (config, warnings) = try GatewayConfig.parse(data: data, environment: environment)
            for warning in warnings { logger.warning("config: \(warning)") }
            parsed = config
        } catch {
            refuse(error.problems, hash: hash, force: force)
            return
        }
        var next = parsed
        overrides.apply(to: &next)
        for field in Self.restartOnlyChanges(from: running, to: next) {
            logger.warning("config: \(field) changed; it takes effect at the next restart")
        }
        state.replace(with: next)
        state.metrics.configReload(outcome: "applied")
        lastFailedHash.withLock { $0 = nil }
        logger.notice("config reloaded: hash \(running.hash) -> \(next.hash); \(Self.keyChanges(from: running, to: next))")
    }

    private func refuse(_ problems: [String], hash: String, force: Bool) {
        let isNew = lastFailedHash.withLock { last in
            defer { last = hash }
            return last != hash
        }
        let summary = problems.joined(separator: "; ")
        // /health answers without an access key: it names the file, not where it lives.
        let fileName = URL(fileURLWithPath: path).lastPathComponent
        state.reloadFailed(summary.replacingOccurrences(of: path, with: fileName))
        guard isNew || force else { return }
        state.metrics.configReload(outcome: "rejected")
        logger.error("config reload refused, still running \(state.current.config.hash): \(summary)")
    }

    /// Settings read once at start-up (the listener, the store, the upstream client).
    static func restartOnlyChanges(from old: GatewayConfig, to new: GatewayConfig) -> [String] {
        var fields: [String] = []
        if old.redisURL != new.redisURL { fields.append("redis") }
        if old.server.host != new.server.host { fields.append("server.host") }
        if old.server.port != new.server.port { fields.append("server.port") }
        if old.server.redisFailureMode != new.server.redisFailureMode { fields.append("server.redis_failure_mode") }
        if old.server.upstreamTimeoutSeconds != new.server.upstreamTimeoutSeconds { fields.append("server.upstream_timeout_seconds") }
        if old.server.clientIdleTimeoutSeconds != new.server.clientIdleTimeoutSeconds {
            fields.append("server.client_idle_timeout_seconds")
        }
        if old.server.upstreamConnectionsPerHost != new.server.upstreamConnectionsPerHost {
            fields.append("server.upstream_connections_per_host")
        }
        return fields
    }

    /// `keys +2 -1` per provider entry, by key id only: what an operator checks after a rotation.
    static func keyChanges(from old: GatewayConfig, to new: GatewayConfig) -> String {
        var parts: [String] = []
        let names = (old.providers.map(\.name) + new.providers.map(\.name)).reduce(into: [String]()) {
            if !$0.contains($1) { $0.append($1) }
        }
        for name in names {
            let before = Set(old.provider(named: name)?.keys.map(\.id) ?? [])
            let after = Set(new.provider(named: name)?.keys.map(\.id) ?? [])
            let added = after.subtracting(before).sorted(), removed = before.subtracting(after).sorted()
            guard !added.isEmpty || !removed.isEmpty else { continue }
            var part = "\(name):"
            if !added.isEmpty { part += " added \(added.joined(separator: ","))" }
            if !removed.isEmpty { part += " removed \(removed.joined(separator: ","))" }
            parts.append(part)
        }
        return parts.isEmpty ? "no keys added or removed" : parts.joined(separator: "; ")
    }
}
