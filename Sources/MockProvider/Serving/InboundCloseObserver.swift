import NIOConcurrencyHelpers
import NIOCore

/// Notices when the client closes its side of the connection.
///
/// Hummingbird allows remote half-closure, so a client that gives up leaves the channel active
/// (CLOSE-WAIT) and only an `inputClosed` event says it left. A hanging or stalled answer adds
/// this handler to learn that and stop waiting; it is added only on those paths, never on the
/// fast one, and is not removed because the connection closes right after.
final class InboundCloseObserver: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let closed = NIOLockedValueBox(false)

    var isClosed: Bool { closed.withLockedValue { $0 } }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            closed.withLockedValue { $0 = true }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed.withLockedValue { $0 = true }
        context.fireChannelInactive()
    }
}
