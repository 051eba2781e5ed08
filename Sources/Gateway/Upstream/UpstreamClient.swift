import KeyPool
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The gateway's HTTP/1.1 client for provider requests: kept-alive connections pooled per host,
/// each request written in one flush, the answer's body read with back-pressure.
///
/// Written for this one job instead of AsyncHTTPClient, which spent about a third of the
/// gateway's CPU per request on its general machinery (see docs/benchmarks.md, *proxy-floor*).
/// What it does not do, because providers do not need it: redirects, decompression, HTTP/2,
/// proxies, cookies, request bodies streamed in.
final class UpstreamClient: Sendable {
    struct PoolKey: Hashable, Sendable {
        let tls: Bool
        let host: String
        let port: Int
    }

    /// A caller waiting for a connection of a full pool: resumed with a pooled connection, or
    /// with nil when it may open one itself.
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<(any Channel)?, any Error>
    }

    private struct Pool {
        var idle: [any Channel] = []
        /// Connections open or being opened.
        var open = 0
        var waiters: [Waiter] = []
    }

    private struct State {
        var pools: [PoolKey: Pool] = [:]
        var shutDown = false
    }

    private let state = Mutex(State())
    private let nextWaiter = Atomic<UInt64>(0)
    private let group: any EventLoopGroup
    private let limit: Int
    private let readTimeout: TimeAmount
    /// `server.upstream_timeout_seconds` as the gateway started with it: a restart-only setting,
    /// so the answer-head deadline and the read timeout never disagree after a reload.
    let timeoutSeconds: Double
    private let connectTimeout: TimeAmount
    /// How long a pooled connection may sit unused: below common keep-alive limits of providers
    /// and load balancers (60 s and more), so the gateway closes first and never sends into a
    /// connection the other side is closing.
    private let idleTimeout: TimeAmount = .seconds(30)
    /// nil when the system's trust roots could not be loaded: https providers then fail to connect.
    private let tls: NIOSSLContext?

    init(server: ServerConfig, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.group = group
        self.limit = max(1, server.upstreamConnectionsPerHost)
        self.readTimeout = .milliseconds(Int64(server.upstreamTimeoutSeconds * 1000))
        self.timeoutSeconds = server.upstreamTimeoutSeconds
        self.connectTimeout = .seconds(10)
        self.tls = try? NIOSSLContext(configuration: .makeClientConfiguration())
    }

    /// POSTs `body` to `url` and returns the answer once its head arrives (by `deadline`).
    ///
    /// `preferring`: the event loop the answer will be relayed on (the client connection's). A
    /// pooled connection on that loop is taken first and a new one is opened on it, so a relay
    /// running there (`EventLoopTaskExecutor`) reads the upstream without a thread hand-off.
    func post(
        _ url: String, headers: [(String, String)], body: ByteBuffer, deadline: NIODeadline, preferring eventLoop: (any EventLoop)? = nil
    ) async throws -> UpstreamResponse {
        let (key, path) = try Self.parse(url)
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.reserveCapacity(headers.count + 2)
        let host = key.host.contains(":") ? "[\(key.host)]" : key.host  // an IPv6 address
        head.headers.add(name: "Host", value: key.port == (key.tls ? 443 : 80) ? host : "\(host):\(key.port)")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        head.headers.add(name: "Content-Length", value: String(body.readableBytes))
        while true {
            let (channel, pooled) = try await checkout(key, deadline: deadline, preferring: eventLoop)
            do {
                return try await send(head, body, deadline: deadline, on: channel)
            } catch let error as UpstreamClientError where error.beforeAnswer && pooled && !Task.isCancelled {
                // A kept-alive connection that ended unanswered as it was reused: almost always
                // the provider closing it as idle at that moment, without reading the request.
                // (Had it read the request and then broken the connection, the failover would
                // send the request again too, on another key.) Sending it again on another
                // connection to the same key spares the key a cooldown for the provider's
                // housekeeping. A connection opened for the request gets no second chance: its
                // failure is the provider's. Each round closes one pooled connection, so this ends.
                continue
            }
        }
    }

    private func send(_ head: HTTPRequestHead, _ body: ByteBuffer, deadline: NIODeadline, on channel: any Channel) async throws -> UpstreamResponse {
        let promise = channel.eventLoop.makePromise(of: UpstreamResponse.self)
        channel.writeAndFlush(UpstreamConnection.Request(head: head, body: body, deadline: deadline, response: promise))
            .whenFailure { promise.fail(UpstreamClientError(.closed, "write failed: \(type(of: $0))", beforeAnswer: true)) }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// Closes the pooled connections; requests in flight finish on theirs, which close after.
    func shutdown() {
        let pools = state.withLock { state in
            state.shutDown = true
            defer { state.pools = [:] }
            return state.pools.values
        }
        for pool in pools {
            for waiter in pool.waiters { waiter.continuation.resume(throwing: UpstreamClientError(.shutDown)) }
            for channel in pool.idle { channel.close(promise: nil) }
        }
    }

    // MARK: - Pool

    private enum Checkout {
        case pooled(any Channel)
        case connect
    }

    /// A connection for one request, and whether it served an earlier one (pooled).
    private func checkout(
        _ key: PoolKey, deadline: NIODeadline, preferring eventLoop: (any EventLoop)?
    ) async throws -> (any Channel, pooled: Bool) {
        let step = try state.withLock { state -> Checkout? in
            if state.shutDown { throw UpstreamClientError(.shutDown) }
            return Self.take(&state.pools[key, default: Pool()], limit: limit, preferring: eventLoop)
        }
        switch step {
        case .pooled(let channel):
            return (channel, true)
        case .connect:
            return (try await connect(key, deadline: deadline, on: eventLoop), false)
        case nil:
            if let pooled = try await waitForConnection(key, deadline: deadline, preferring: eventLoop) { return (pooled, true) }
            return (try await connect(key, deadline: deadline, on: eventLoop), false)
        }
    }

    /// How far back from the most recently pooled connection `take` looks for one on the
    /// preferred event loop: connections sit on the few loops in turn, so one is near the end,
    /// and the look stays short however large the pool.
    private static let preferenceWindow = 8

    /// A pooled connection still open (on the preferred event loop if one of the most recently
    /// used is, else the most recently used: the likeliest to be warm), or a slot to open one
    /// (counted now), or nil when the pool is full.
    private static func take(_ pool: inout Pool, limit: Int, preferring eventLoop: (any EventLoop)?) -> Checkout? {
        if let eventLoop {
            var index = pool.idle.endIndex
            while index > max(pool.idle.startIndex, pool.idle.endIndex - preferenceWindow) {
                index -= 1
                if pool.idle[index].eventLoop === eventLoop, pool.idle[index].isActive {
                    return .pooled(pool.idle.remove(at: index))
                }
            }
        }
        while let channel = pool.idle.popLast() {
            if channel.isActive { return .pooled(channel) }
        }
        guard pool.open < limit else { return nil }
        pool.open += 1
        return .connect
    }

    private func waitForConnection(
        _ key: PoolKey, deadline: NIODeadline, preferring eventLoop: (any EventLoop)?
    ) async throws -> (any Channel)? {
        let id = nextWaiter.wrappingAdd(1, ordering: .relaxed).newValue
        let timer = group.next().scheduleTask(deadline: deadline) { [self] in
            abandon(key, id: id, UpstreamClientError(.timeout, "no connection free in time"))
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                // Checked again under the lock that queues the waiter: a connection released since
                // `checkout` looked would otherwise go unused while the waiter sits in the queue.
                let now = state.withLock { state -> Result<(any Channel)?, any Error>? in
                    if state.shutDown { return .failure(UpstreamClientError(.shutDown)) }
                    // The timer or the cancellation may have fired before the waiter was queued,
                    // when `abandon` found nothing to take out.
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if deadline <= .now() { return .failure(UpstreamClientError(.timeout, "no connection free in time")) }
                    switch Self.take(&state.pools[key, default: Pool()], limit: limit, preferring: eventLoop) {
                    case .pooled(let channel): return .success(channel)
                    case .connect: return .success(nil)
                    case nil:
                        state.pools[key, default: Pool()].waiters.append(Waiter(id: id, continuation: continuation))
                        return nil
                    }
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            abandon(key, id: id, CancellationError())
        }
    }

    /// Takes a waiter out of the queue (its deadline passed or its task was cancelled).
    private func abandon(_ key: PoolKey, id: UInt64, _ error: any Error) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.pools[key]?.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.pools[key]?.waiters.remove(at: index)
        }
        waiter?.continuation.resume(throwing: error)
    }

    /// An answer ended on a kept-alive connection: the next waiter takes it, or it is pooled.
    private func reusable(_ channel: any Channel, _ key: PoolKey) {
        enum Next { case waiter(Waiter), done, close }
        let next = state.withLock { state -> Next in
            if state.shutDown { return .close }
            // A connection closing as its answer ended is not handed on: its close gives the slot
            // to the next waiter instead.
            guard channel.isActive else { return .done }
            if let first = state.pools[key]?.waiters.first {
                state.pools[key]?.waiters.removeFirst()
                return .waiter(first)
            }
            state.pools[key, default: Pool()].idle.append(channel)
            return .done
        }
        switch next {
        case .waiter(let waiter): waiter.continuation.resume(returning: channel)
        case .close: channel.close(promise: nil)
        case .done: break
        }
    }

    /// A connection closed (or failed to open): its slot goes to the next waiter, who opens one.
    private func released(_ channel: (any Channel)?, _ key: PoolKey) {
        let waiter = state.withLock { state -> Waiter? in
            guard var pool = state.pools[key] else { return nil }
            defer { state.pools[key] = pool }
            pool.open -= 1
            if let channel { pool.idle.removeAll { $0 === channel } }
            guard !pool.waiters.isEmpty else { return nil }
            pool.open += 1
            return pool.waiters.removeFirst()
        }
        waiter?.continuation.resume(returning: nil)
    }

    private func connect(_ key: PoolKey, deadline: NIODeadline, on eventLoop: (any EventLoop)?) async throws -> any Channel {
        let remaining = deadline - .now()
        guard remaining > .zero else {
            released(nil, key)
            throw UpstreamClientError(.timeout, "no time left to connect")
        }
        let tls: NIOSSLContext?
        if key.tls {
            guard let context = self.tls else {
                released(nil, key)
                throw UpstreamClientError(.connect, "TLS trust roots unavailable")
            }
            tls = context
        } else {
            tls = nil
        }
        // SNI carries host names only, never an address.
        let serverName = key.host.contains(":") || key.host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : key.host
        let readTimeout = self.readTimeout
        let idleTimeout = self.idleTimeout
        let bootstrap = ClientBootstrap(group: eventLoop ?? group)
            .connectTimeout(min(connectTimeout, remaining))
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls { try pipeline.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverName)) }
                    try pipeline.addHTTPClientHandlers()
                    try pipeline.addHandler(UpstreamConnection.Handler(
                        readTimeout: readTimeout, idleTimeout: idleTimeout, onReusable: { [self] in reusable($0, key) }))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: key.host, port: key.port).get()
        } catch {
            released(nil, key)
            // Cut short by the request's deadline rather than the connect timeout: a timeout.
            if case .connectTimeout = error as? ChannelError, remaining < connectTimeout {
                throw UpstreamClientError(.timeout, "no connection by the deadline")
            }
            throw UpstreamClientError(.connect, String(describing: type(of: error)))
        }
        channel.closeFuture.whenComplete { [self] _ in released(channel, key) }
        return channel
    }

    /// `http(s)://host[:port]/path` into its pool and path. Providers' base URLs are checked at
    /// config load; this only splits them.
    static func parse(_ url: String) throws -> (PoolKey, String) {
        let tls: Bool
        let rest: Substring
        if url.hasPrefix("https://") {
            (tls, rest) = (true, url.dropFirst(8))
        } else if url.hasPrefix("http://") {
            (tls, rest) = (false, url.dropFirst(7))
        } else {
            throw UpstreamClientError(.badURL, "scheme")
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var host = authority
        var port = tls ? 443 : 80
        if let at = authority.lastIndex(of: "@") { host = authority[authority.index(after: at)...] }
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            // [IPv6]:port
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()) else { throw UpstreamClientError(.badURL, "port") }
                port = number
            }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            guard let number = Int(host[host.index(after: colon)...]) else { throw UpstreamClientError(.badURL, "port") }
            port = number
            host = host[..<colon]
        }
        guard !host.isEmpty, (1...65_535).contains(port) else { throw UpstreamClientError(.badURL, "host") }
        return (PoolKey(tls: tls, host: String(host), port: port), path)
    }
}
