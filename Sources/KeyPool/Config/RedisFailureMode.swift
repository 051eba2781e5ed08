/// What a replica does while Redis is unreachable (`server.redis_failure_mode`).
public enum RedisFailureMode: String, Sendable, Hashable, CaseIterable {
    /// Keep serving on per-replica in-memory windows and report `degraded` in /health: limits
    /// hold per replica only, which beats refusing all traffic for most deployments.
    case failOpen = "fail_open"
    /// Refuse proxied requests with 503 until Redis is back, so shared limits are never exceeded.
    case failClosed = "fail_closed"
}
