import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` with `100 Continue` as the request's head arrives.
///
/// A client that sends the header (curl does for bodies over 1 MiB) waits for the interim answer
/// before it sends the body, and only goes ahead on its own after a timeout (1 s for curl), so
/// without this every such request stalls. The gateway reads every body it routes, so it lets
/// the client go on at once; a request refused afterwards (401, 413) still gets its final answer.
/// Inbound only: the answers' writes do not pass through it.
final class ContinueResponder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data),
            head.headerFields[.expect]?.lowercased() == "100-continue"
        {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
    }
}
