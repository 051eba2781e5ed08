/// An error from the Redis client. A struct wrapping a code so new codes break nobody.
public struct RedisError: Error, Sendable, CustomStringConvertible, Equatable {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidURL = "invalid Redis URL"
            case unavailable = "Redis unavailable"
            case connectionLost = "Redis connection lost"
            case timeout = "Redis command timed out"
            case authentication = "Redis authentication failed"
            case database = "Redis database cannot be selected"
            case server = "Redis error reply"
            case notServing = "Redis is not serving commands"
            case closed = "Redis client closed"
            case encoding = "Redis command could not be encoded"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The URL could not be parsed or names an unsupported scheme.
        public static let invalidURL = Code(.invalidURL)
        /// No connection to Redis right now; the call failed without waiting.
        public static let unavailable = Code(.unavailable)
        /// The connection broke while the command was in flight; it may or may not have run.
        public static let connectionLost = Code(.connectionLost)
        /// Redis did not answer within the command timeout; the connection is reset.
        public static let timeout = Code(.timeout)
        /// AUTH was refused while connecting, or the server needs a password the URL lacks.
        public static let authentication = Code(.authentication)
        /// SELECT was refused while connecting: the URL's database number is beyond the
        /// server's `databases` setting. A configuration error, not a password one; kept apart so
        /// that the log and /health do not send an operator to check credentials.
        public static let database = Code(.database)
        /// The server answered with an error reply.
        public static let server = Code(.server)
        /// The server refused the command for its own state, not the command's: still loading
        /// its data (`LOADING`), a read-only replica after a failover (`READONLY`), out of
        /// memory (`OOM`), unable to persist (`MISCONF`), a script running too long (`BUSY`),
        /// and the like. An outage for the caller, as much as a lost connection.
        public static let notServing = Code(.notServing)
        /// The client was shut down.
        public static let closed = Code(.closed)
        /// hiredis could not format the command.
        public static let encoding = Code(.encoding)

        public var description: String { base.rawValue }
    }

    public let code: Code
    /// Detail from hiredis or the server; never contains a password.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// This error as it reaches a command that was never written: a lost connection or a timeout
    /// leaves its own commands in doubt (they may have run), but one that failed before it was
    /// sent did not run, and says so as `.unavailable`. Callers rely on the difference: a settle
    /// that did not run can be made again, one that may have run cannot.
    var unsent: RedisError {
        code == .connectionLost || code == .timeout ? RedisError(.unavailable, message) : self
    }

    /// This error as it reaches a command that was written but not answered when the connection
    /// went down: a refusal of an earlier command (`BUSY`, `OOM`, ...) does not say that this one
    /// was refused too (the server may have served it a moment later), so it is in doubt, like a
    /// command whose connection was lost. Callers rely on it: a settle in doubt is not made twice.
    var inDoubt: RedisError {
        code == .notServing ? RedisError(.connectionLost, "the connection went down (\(message)) before this command's reply") : self
    }

    /// True when the error is about reaching Redis rather than about the command.
    public var isConnectionError: Bool {
        code == .unavailable || code == .connectionLost || code == .timeout || code == .closed
            || code == .authentication || code == .database || code == .notServing
    }

    /// Error-reply prefixes that say the server cannot serve now, whatever the command
    /// (`NOAUTH`: a password set on a running server; the rest as listed at `notServing`).
    static let notServingPrefixes = [
        "LOADING", "READONLY", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MISCONF", "OOM",
        "NOREPLICAS", "NOAUTH",
    ]

    /// The error for a server's error reply: `notServing` for the prefixes above, else `server`.
    static func reply(_ message: String) -> RedisError {
        let prefix = message.prefix { $0 != " " }
        return RedisError(notServingPrefixes.contains(String(prefix)) ? .notServing : .server, message)
    }

    public var description: String { "\(code): \(message)" }
}
