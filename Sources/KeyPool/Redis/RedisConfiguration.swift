import Foundation

/// Where and how to connect to Redis.
public struct RedisConfiguration: Sendable, Equatable {
    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var endpoint: Endpoint
    public var username: String?
    public var password: String?
    public var database: Int
    /// Connections in the pool, spread over the client's event loops; each pipelines its callers.
    public var poolSize: Int
    public var connectTimeout: Duration
    /// A command not answered within this time fails and its connection is reset.
    public var commandTimeout: Duration
    /// Reconnect delays grow from this value, doubling while Redis stays down ...
    public var reconnectMin: Duration = .milliseconds(50)
    /// ... up to this one, so a restarted Redis is back in use within about this time.
    public var reconnectMax: Duration = .milliseconds(500)

    public init(
        endpoint: Endpoint,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        poolSize: Int = RedisConfiguration.defaultPoolSize,
        connectTimeout: Duration = .seconds(1),
        commandTimeout: Duration = .seconds(2)
    ) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.poolSize = poolSize
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    /// One connection per core, at most eight: the gateway's event loops are one per core, and a
    /// request served on a loop uses that loop's own connection (see `RedisClient.pick`).
    public static var defaultPoolSize: Int { min(8, max(1, ProcessInfo.processInfo.activeProcessorCount)) }

    /// Why `url` would not start a client, as `is not a usable Redis URL: <reason>` (the URL
    /// shown with any password replaced by ***), or nil when it would. The check the config's
    /// `redis` and `gateway --redis` share.
    public static func problem(with url: String) -> String? {
        do {
            _ = try RedisConfiguration(url: url)
            return nil
        } catch {
            return "is not a usable Redis URL: \(error.message)"
        }
    }

    /// Parses `redis://[user:password@]host[:port][/db]` or
    /// `unix://[user:password@]/path/to/socket[?db=N]` (also `redis+unix://`).
    /// Query parameters `pool`, `connect_timeout_ms` and `timeout_ms` tune the client.
    public init(url string: String) throws(RedisError) {
        guard let components = URLComponents(string: string), let scheme = components.scheme?.lowercased() else {
            throw RedisError(.invalidURL, "cannot parse '\(Self.redacted(string))'")
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }

        switch scheme {
        case "redis":
            guard let host = components.host, !host.isEmpty else {
                throw RedisError(.invalidURL, "missing host in '\(Self.redacted(string))'")
            }
            let port = components.port ?? 6379
            guard (1...65535).contains(port) else {
                throw RedisError(.invalidURL, "port \(port) out of range")
            }
            self.init(endpoint: .tcp(host: host, port: port))
            let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else {
                    throw RedisError(.invalidURL, "database '\(path)' is not a non-negative integer")
                }
                database = db
            }
        case "unix", "redis+unix":
            let path = components.path
            guard path.hasPrefix("/") else {
                throw RedisError(.invalidURL, "unix socket URL needs an absolute path, as unix:///run/redis.sock")
            }
            self.init(endpoint: .unix(path: path))
        case "rediss":
            throw RedisError(.invalidURL, "TLS (rediss://) is not supported; use a local TLS proxy such as stunnel")
        default:
            throw RedisError(.invalidURL, "unsupported scheme '\(scheme)'; use redis:// or unix://")
        }

        if let user = components.percentEncodedUser, !user.isEmpty {
            username = user.removingPercentEncoding ?? user
        }
        if let pass = components.percentEncodedPassword {
            password = pass.removingPercentEncoding ?? pass
        }
        if let db = query["db"] {
            guard let value = Int(db), value >= 0 else {
                throw RedisError(.invalidURL, "db=\(db) is not a non-negative integer")
            }
            database = value
        }
        if let pool = query["pool"] {
            guard let value = Int(pool), (1...64).contains(value) else {
                throw RedisError(.invalidURL, "pool=\(pool) must be an integer from 1 to 64")
            }
            poolSize = value
        }
        if let ms = query["connect_timeout_ms"] {
            guard let value = Int(ms), value > 0 else {
                throw RedisError(.invalidURL, "connect_timeout_ms=\(ms) must be a positive integer")
            }
            connectTimeout = .milliseconds(value)
        }
        if let ms = query["timeout_ms"] {
            guard let value = Int(ms), value > 0 else {
                throw RedisError(.invalidURL, "timeout_ms=\(ms) must be a positive integer")
            }
            commandTimeout = .milliseconds(value)
        }
    }

    /// A description safe to log: the password is never shown.
    public var redactedDescription: String {
        let auth = password == nil ? "" : "\(username ?? ""):***@"
        switch endpoint {
        case .tcp(let host, let port): return "redis://\(auth)\(host):\(port)/\(database)"
        case .unix(let path): return "unix://\(auth)\(path)?db=\(database)"
        }
    }

    /// The URL with any password replaced, for error messages.
    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let schemeEnd = url.range(of: "://") else { return url }
        return String(url[..<schemeEnd.upperBound]) + "***" + String(url[at...])
    }
}

extension Duration {
    /// Whole microseconds, for hiredis's `struct timeval` timeouts.
    var microseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1_000_000 + Int(attoseconds / 1_000_000_000_000)
    }
}
