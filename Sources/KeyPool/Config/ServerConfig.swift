/// The optional `server` object: how the gateway listens and guards itself.
/// `gateway --host/--port` override `host` and `port`.
public struct ServerConfig: Sendable, Equatable {
    /// Loopback by default, so a fresh install is not exposed before it is configured.
    public var host: String
    public var port: Int
    /// What `server.port` and `gateway --port` take.
    public static let ports = 1...65535
    /// Larger request bodies are refused with 413 before they are read whole.
    public var maxBodyBytes: Int
    /// Time allowed for an upstream to answer (to the first byte of a stream).
    public var upstreamTimeoutSeconds: Double
    public var redisFailureMode: RedisFailureMode
    /// Pooled upstream connections per host (AsyncHTTPClient's default of 8 would queue a busy
    /// gateway's requests: one host carries all of a provider's traffic).
    public var upstreamConnectionsPerHost: Int
    /// After SIGTERM, how long in-flight requests and streams may go on before the streams still
    /// open are ended with an error event. Shorter than a platform's kill timeout (Kubernetes'
    /// terminationGracePeriodSeconds, 30 s by default, minus any preStop delay).
    public var shutdownDrainSeconds: Double
    /// How long a client connection may send nothing while the gateway waits for it: between
    /// requests (keep-alive), and while a request's head or body is still arriving. A client
    /// that opens connections and sends slowly or not at all would otherwise hold them for good.
    /// Never applies while the gateway works on an answer or streams it. The default is above
    /// the 60 s idle timeout of common load balancers (AWS ALB, nginx's keep-alive to
    /// upstreams), which must close an idle connection before the server behind them does.
    public var clientIdleTimeoutSeconds: Double

    public init(
        host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = 4 * 1024 * 1024,
        upstreamTimeoutSeconds: Double = 120, redisFailureMode: RedisFailureMode = .failOpen,
        upstreamConnectionsPerHost: Int = 512, shutdownDrainSeconds: Double = 20,
        clientIdleTimeoutSeconds: Double = 75
    ) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.upstreamTimeoutSeconds = upstreamTimeoutSeconds
        self.redisFailureMode = redisFailureMode
        self.upstreamConnectionsPerHost = upstreamConnectionsPerHost
        self.shutdownDrainSeconds = shutdownDrainSeconds
        self.clientIdleTimeoutSeconds = clientIdleTimeoutSeconds
    }
}
