import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

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

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }

    /// The server: `configuration` as for Hummingbird's `.http1(configuration:)`.
    static func builder(_ configuration: HTTP1Channel.Configuration) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            GatewayHTTP1Channel(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}
