import Synchronization

/// Whether the server last refused to serve, shared by a client's pooled connections.
///
/// A refusal (`RedisError.notServing`: READONLY after a failover, LOADING, OOM...) is a property
/// of the server, but only the connection that met it goes down; the others look connected until
/// they are used. So the connection that meets it records it here, and the client counts as not
/// connected until a connection connects again and passes the serving check (`ROLE`, `PING`).
/// Touched only on a refusal and on a connect, never per command.
final class ServerRefusal: Sendable {
    private let refusal = Mutex<RedisError?>(nil)

    var current: RedisError? { refusal.withLock { $0 } }

    func record(_ error: RedisError) {
        refusal.withLock { $0 = error }
    }

    func clear() {
        refusal.withLock { $0 = nil }
    }
}
