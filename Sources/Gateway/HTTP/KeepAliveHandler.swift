import NIOCore
import NIOHTTP1

/// Ends the connection after an answer when HTTP/1's persistence rules say so (RFC 9112, 9.3):
/// after an HTTP/1.0 request without `Connection: keep-alive`, and after a request with
/// `Connection: close` in any case and among any other tokens.
///
/// Hummingbird hands the gateway swift-http-types requests, which carry no HTTP version, and
/// itself ends a connection only when its `Connection` header is exactly `close`: an HTTP/1.0
/// client (ab, older proxies and probes) that waited for the close that ends its answer waited
/// for good, and a stream went to it in chunked coding, which HTTP/1.0 does not have. This
/// handler sits where the version is still known, between NIOHTTP1's codec and the translation
/// to HTTP types (`GatewayHTTP1Channel`).
///
/// An answer to HTTP/1.0 is sent as HTTP/1.0, so NIOHTTP1 frames a body of unknown length (a
/// stream) by closing, not by chunks; such an answer cannot keep the connection even when the
/// client asked for keep-alive. The close is of the gateway's sending side, once the answer is
/// written (as Hummingbird does for `Connection: close`): the client reads the answer, then its
/// end, and no unread request bytes turn the close into a reset that could destroy the answer.
/// Requests sent after the one that ends the connection are dropped unread, so none is served
/// and billed without an answer.
final class KeepAliveHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private struct Exchange {
        let version: HTTPVersion
        let keepAlive: Bool
        let isHead: Bool
    }

    /// Requests whose answers are not written yet, oldest first (a client may pipeline).
    private var exchanges = CircularBuffer<Exchange>()
    /// The connection ends after the answer being written (its head said so).
    private var closeAfterAnswer = false
    /// A request that ends the connection has been read whole: what follows is not read.
    private var lastRequestRead = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !lastRequestRead else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            exchanges.append(Exchange(version: head.version, keepAlive: head.isKeepAlive, isHead: head.method == .HEAD))
        case .body:
            break
        case .end:
            lastRequestRead = exchanges.last.map { !$0.keepAlive } ?? false
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            let exchange = exchanges.first
            let isHTTP10 = exchange.map { $0.version.major == 1 && $0.version.minor == 0 } ?? false
            // The common case, an HTTP/1.1 request that keeps the connection, passes untouched:
            // an answer that ends it anyway (Hummingbird's 400 for a request it could not
            // parse) says so itself and Hummingbird closes after it.
            if let exchange, exchange.keepAlive, !isHTTP10, head.status.code >= 200 {
                context.write(data, promise: promise)
                return
            }
            if head.status.code < 200 {
                // RFC 9110, 15.2: no interim answer (100 Continue) to an HTTP/1.0 client.
                if isHTTP10 { promise?.succeed(()) } else { context.write(data, promise: promise) }
                return
            }
            // Read before the version changes: whether the answer itself ends the connection
            // (Hummingbird's 400 for a request it could not parse says `Connection: close`).
            let answerKeepsAlive = head.isKeepAlive
            if let exchange, isHTTP10 { head.version = exchange.version }
            let framed = !isHTTP10 || head.headers.contains(name: "content-length") || exchange?.isHead == true
                || head.status == .noContent || head.status == .notModified
            if (exchange?.keepAlive ?? true) && answerKeepsAlive && framed {
                // HTTP/1.0 keeps a connection only when the answer says so.
                if isHTTP10 { head.headers.replaceOrAdd(name: "connection", value: "keep-alive") }
            } else {
                head.headers.replaceOrAdd(name: "connection", value: "close")
                closeAfterAnswer = true
                lastRequestRead = true
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            _ = exchanges.popFirst()
            guard closeAfterAnswer else {
                context.write(data, promise: promise)
                return
            }
            context.writeAndFlush(data, promise: promise)
            // Shuts the socket's sending side once the answer's bytes are written; the channel
            // closes in full when the client closes its side (or the idle timeout runs out).
            context.close(mode: .output, promise: nil)
        }
    }
}
