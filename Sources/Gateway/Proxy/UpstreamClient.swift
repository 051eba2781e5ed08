import AsyncHTTPClient
import KeyPool
import NIOCore

/// The gateway's one AsyncHTTPClient, configured for proxying.
enum UpstreamClient {
    static func make(server: ServerConfig) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        var pool = HTTPClient.Configuration.ConnectionPool()
        // AsyncHTTPClient's default of 8 connections per host would queue a busy gateway's
        // requests behind each other: one upstream host carries all of a provider's traffic.
        pool.concurrentHTTP1ConnectionsPerHostSoftLimit = server.upstreamConnectionsPerHost
        pool.idleTimeout = .seconds(60)
        // A refused connection fails the request at once (a 502 the client can retry, or a
        // failover) instead of retrying for the whole connect timeout.
        pool.retryConnectionEstablishment = false
        configuration.connectionPool = pool
        let timeout = TimeAmount.milliseconds(Int64(server.upstreamTimeoutSeconds * 1000))
        // `read` bounds the silence between two body reads, so a stalled stream ends too.
        configuration.timeout = .init(connect: .seconds(10), read: timeout)
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
