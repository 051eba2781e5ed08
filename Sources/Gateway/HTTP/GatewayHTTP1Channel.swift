import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Hummingbird's HTTP/1.1 child channel with `KeepAliveHandler` added where the HTTP version is
/// still known: right after NIOHTTP1's request decoder, before the translation to HTTP types.
/// Hummingbird's `additionalChannelHandlers` all go after that translation, which drops the
/// version, so the handler is placed here once the base channel has built its pipeline.
struct GatewayHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel

    var responder: HTTPChannelHandler.Responder { base.responder }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(KeepAliveHandler(), position: .after(decoder))
            return value
        }
    }

    /// Connections open at once up to this many, and a new one's task runs on its own event
    /// loop; more, and it runs on Swift's pool as before.
    static let loopLimit = max(2, System.coreCount)

    /// Connections being handled (the count that decides where a new one runs).
    private static let open = Atomic<Int>(0)

    /// A connection opened while the replica has few runs its task on the connection's own
    /// event loop: reading a request and writing its answer then cost no hand-off between
    /// threads, and a request handled there talks to its provider and to Redis on connections
    /// of that same loop, whose replies resume it without waking another thread. On this VM
    /// that took about 0.1 ms off a request at concurrency 1 (docs/benchmarks.md). Under load
    /// the loops alone moved 9-13 % fewer requests a second at concurrency 64 than with Swift's
    /// pool beside them (each loop then queues its connections' I/O behind their JSON work), so
    /// connections opened beyond `loopLimit` run on the pool, and a request on a loop-bound
    /// connection moves to the pool while the replica is busy (`ChatRoutes`).
    func handle(value: Value, logger: Logger) async {
        let open = Self.open.add(1, ordering: .relaxed).newValue
        defer { Self.open.subtract(1, ordering: .relaxed) }
        guard open <= Self.loopLimit else {
            await base.handle(value: value, logger: logger)
            return
        }
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }

    /// The server: `configuration` as for Hummingbird's `.http1(configuration:)`.
    static func builder(_ configuration: HTTP1Channel.Configuration) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            GatewayHTTP1Channel(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}
