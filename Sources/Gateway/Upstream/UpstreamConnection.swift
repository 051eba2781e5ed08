import NIOCore
import NIOHTTP1
import Synchronization

/// One kept-alive HTTP/1.1 connection to a provider: a NIO channel whose last handler runs one
/// request at a time and hands the answer's body to the reading task with back-pressure.
enum UpstreamConnection {
    /// A request as the handler receives it: written whole (head, body, end) in one flush.
    struct Request {
        let head: HTTPRequestHead
        let body: ByteBuffer
        let deadline: NIODeadline
        let response: EventLoopPromise<UpstreamResponse>
    }

    /// The reader's demand for the body: more resumes socket reads, termination before the end
    /// closes the connection (the provider stops generating, and it cannot be reused mid-answer).
    final class Demand: NIOAsyncSequenceProducerDelegate {
        let channel: any Channel
        /// Set when the whole body arrived: the connection went back to the pool.
        let complete = Atomic<Bool>(false)

        init(channel: any Channel) { self.channel = channel }

        func produceMore() {
            channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }

        func didTerminate() {
            abandon()
        }

        /// Stops the answer before its end (unless it already ended): the connection closes and
        /// the reader's next read fails. Decided on the event loop by the handler: the answer may
        /// be ending right now, and the connection then already serves the next request.
        func abandon() {
            if !complete.load(ordering: .acquiring) { channel.pipeline.fireUserInboundEventTriggered(ReaderGone(demand: ObjectIdentifier(self))) }
        }
    }

    /// The reader of the answer whose `Demand` this is stopped before its end.
    struct ReaderGone: Sendable {
        let demand: ObjectIdentifier
    }

    /// The channel's last handler. Lives on the channel's event loop only.
    final class Handler: ChannelDuplexHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundIn = Request
        typealias OutboundOut = HTTPClientRequestPart

        private enum State {
            case idle
            case awaitingHead(EventLoopPromise<UpstreamResponse>, Scheduled<Void>)
            case body(UpstreamBody.Producer.Source, Demand, keepAlive: Bool)
            case closed
        }

        private var state = State.idle
        /// Called when an answer ended and the connection can serve the next request.
        private let onReusable: @Sendable (any Channel) -> Void
        /// The longest silence while a request is in flight (from its write, then from each read).
        private let readTimeout: TimeAmount
        /// How long a pooled connection may sit unused before it is closed.
        private let idleTimeout: TimeAmount
        /// The silence or idle timer that is running, if any.
        private var timer: Scheduled<Void>?
        /// When the request was written or the last read arrived: the silence timer, armed once
        /// per request, looks at it when it fires rather than being re-armed at every read (a
        /// timer cancelled and scheduled again for each SSE event cost an allocation and two
        /// updates of the event loop's timer heap per event).
        private var lastActivity = NIODeadline.uptimeNanoseconds(0)

        init(readTimeout: TimeAmount, idleTimeout: TimeAmount, onReusable: @escaping @Sendable (any Channel) -> Void) {
            self.readTimeout = readTimeout
            self.idleTimeout = idleTimeout
            self.onReusable = onReusable
        }

        func handlerAdded(context: ChannelHandlerContext) {
            armIdle(context)
        }

        /// While a request is in flight: fails it after `readTimeout` without a read, unless the
        /// reader has paused reads (back-pressure), which is not the provider's silence.
        private func armSilence(_ context: ChannelHandlerContext) {
            lastActivity = .now()
            scheduleSilenceCheck(context, at: lastActivity + readTimeout)
        }

        private func scheduleSilenceCheck(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
            timer?.cancel()
            timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [context] in
                let paused = (try? context.channel.syncOptions?.getOption(ChannelOptions.autoRead)) == false
                let due = self.lastActivity + self.readTimeout
                if paused {
                    self.armSilence(context)
                } else if due > .now() {
                    // A read arrived since the timer was set: the silence counts from it.
                    self.scheduleSilenceCheck(context, at: due)
                } else {
                    self.fail(context, UpstreamClientError(.timeout, "no data within the read timeout"))
                }
            }
        }

        /// While pooled: closes the connection after `idleTimeout` unused.
        private func armIdle(_ context: ChannelHandlerContext) {
            timer?.cancel()
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: idleTimeout) { [context] in
                if case .idle = self.state { self.fail(context, UpstreamClientError(.closed, "idle")) }
            }
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            let request = unwrapOutboundIn(data)
            guard case .idle = state else {
                let error = UpstreamClientError(.closed, "connection not idle", beforeAnswer: true)
                request.response.fail(error)
                promise?.fail(error)
                return
            }
            let loop = context.eventLoop.assumeIsolated()
            let timer = loop.scheduleTask(deadline: request.deadline) { [context] in
                self.fail(context, UpstreamClientError(.timeout, "no answer head in time"))
            }
            state = .awaitingHead(request.response, timer)
            armSilence(context)
            context.write(wrapOutboundOut(.head(request.head)), promise: nil)
            if request.body.readableBytes > 0 {
                context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .closed = state { return }
            lastActivity = .now()
            switch (unwrapInboundIn(data), state) {
            case (.head(let head), .awaitingHead(let promise, let timer)):
                // 1xx heads (100 Continue) are not answers: the real head follows, on the clock.
                if head.status.code < 200 { return }
                timer.cancel()
                let demand = Demand(channel: context.channel)
                let made = UpstreamBody.Producer.makeSequence(
                    backPressureStrategy: .init(lowWatermark: 2, highWatermark: 16), finishOnDeinit: false, delegate: demand)
                state = .body(made.source, demand, keepAlive: head.isKeepAlive)
                promise.succeed(UpstreamResponse(status: head.status, headers: head.headers, body: UpstreamBody(producer: made.sequence, demand: demand)))
            case (.body(let chunk), .body(let source, _, _)):
                switch source.yield(chunk) {
                case .produceMore: break
                case .stopProducing: context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
                case .dropped: context.close(promise: nil)
                }
            case (.end, .body(let source, let demand, let keepAlive)):
                demand.complete.store(true, ordering: .releasing)
                state = .idle
                if keepAlive && context.channel.isActive {
                    // Reads go on while pooled, so a provider closing the idle connection is seen.
                    context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
                    armIdle(context)
                    onReusable(context.channel)
                } else {
                    context.close(promise: nil)
                }
                // Pooled before the reader learns the answer is complete: the client may send
                // its next request as soon as it has this answer, and that request should find
                // the connection back in the pool rather than open another.
                source.finish()
            case (.end, .awaitingHead):
                // The end of a 1xx head.
                break
            default:
                // Bytes with no request waiting for them: the connection is out of step.
                fail(context, UpstreamClientError(.closed, "unexpected answer data"))
            }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let gone = event as? ReaderGone {
                if case .body(_, let demand, _) = state, ObjectIdentifier(demand) == gone.demand {
                    fail(context, UpstreamClientError(.closed, "reader gone"))
                }
                return
            }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // A reset or broken pipe while waiting for the head means no answer began; a parser
            // error means one did, and was malformed.
            fail(context, UpstreamClientError(
                .closed, String(describing: type(of: error)), beforeAnswer: awaitingHead && error is IOError))
        }

        func channelInactive(context: ChannelHandlerContext) {
            fail(context, UpstreamClientError(.closed, "connection closed", beforeAnswer: awaitingHead))
            context.fireChannelInactive()
        }

        private var awaitingHead: Bool {
            if case .awaitingHead = state { return true }
            return false
        }

        /// Ends whatever is in progress with `error` and closes the connection (once).
        private func fail(_ context: ChannelHandlerContext, _ error: UpstreamClientError) {
            if case .closed = state { return }
            let previous = state
            state = .closed
            timer?.cancel()
            timer = nil
            switch previous {
            case .awaitingHead(let promise, let headTimer):
                headTimer.cancel()
                promise.fail(error)
            case .body(let source, _, _):
                source.finish(error)
            case .idle, .closed:
                break
            }
            context.close(promise: nil)
        }
    }
}
