import NIOConcurrencyHelpers
import NIOCore

/// Calls back when the client closes its side of the connection.
///
/// Hummingbird allows remote half-closure, so a client that gives up leaves the channel active
/// (CLOSE-WAIT) and only an `inputClosed` event says it left. The stream relay adds this handler
/// so that it stops the upstream request at once instead of at its next failed write, which
/// may never come while the upstream is silent.
final class InboundCloseObserver: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private struct State {
        var closed = false
        var onClose: (@Sendable () -> Void)?
    }

    private let state = NIOLockedValueBox(State())

    /// Runs `action` once the client has gone, at once if it already has.
    func onClose(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLockedValue { state -> Bool in
            if state.closed { return true }
            state.onClose = action
            return false
        }
        if runNow { action() }
    }

    /// Forgets the callback: the relay is over.
    func cancel() {
        state.withLockedValue { $0.onClose = nil }
    }

    private func close() {
        let action = state.withLockedValue { state -> (@Sendable () -> Void)? in
            state.closed = true
            defer { state.onClose = nil }
            return state.onClose
        }
        action?()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { close() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        close()
        context.fireChannelInactive()
    }
}
