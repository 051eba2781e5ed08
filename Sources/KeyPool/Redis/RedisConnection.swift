import CHiredis
import Foundation
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One Redis connection with auto-pipelining: its socket is read and written by a NIO event
/// loop, its replies parsed by hiredis.
///
/// Replies come back in the order commands were written, so every written command leaves its
/// continuation in one FIFO (`awaiting`), resumed in order as replies arrive (RediStack's
/// FIFO-of-promises idea). Callers append their command to a queue; the first one to find no
/// write pending schedules one on the loop (or makes it at once when it already runs there),
/// which writes everything queued by then with one flush: concurrent callers share writes and
/// reads.
///
/// Why an event loop and not a thread of its own: a caller running on the connection's loop
/// (the gateway runs a lightly loaded request there, see `GatewayHTTP1Channel`) writes its
/// command itself, and the reply wakes that same loop, which resumes the caller on the spot. A
/// thread of the connection's own had to wake first and then wake the caller's thread: on a
/// small VM each wake-up costs tens of microseconds (docs/benchmarks.md).
///
/// A dedicated thread remains for what blocks: connecting, the handshake (AUTH, SELECT and the
/// serving check, through hiredis's blocking calls) and the backoff between attempts. Once the
/// handshake passes, the socket is handed to the loop, and the thread sleeps until the channel
/// closes. While the connection is down, calls fail at once and the thread reconnects with
/// backoff. A server that answers but cannot serve (an error reply such as `READONLY` after a
/// failover, `LOADING`, `OOM`: see `RedisError.notServing`) takes the connection down the same
/// way, after the reply has reached its caller: the thread reconnects after a backoff, following
/// a host name that now points at the new primary, and refuses a server that is a replica when
/// it connects. So `isConnected` (and with it `/health` and `/ready`) tells whether the server
/// serves.
final class RedisConnection: Sendable {
    private typealias Continuation = UnsafeContinuation<RedisReply, any Error>

    private struct Pending {
        let command: ByteBuffer
        let continuation: Continuation
    }

    private enum Status {
        case connecting
        case connected(any Channel)
        case down(RedisError)
    }

    private struct State {
        var status: Status = .connecting
        /// Commands the loop has yet to write: the next `drain` takes them all.
        var queue: [Pending] = []
        /// A drain is scheduled on the loop: callers meanwhile only queue.
        var drainScheduled = false
        /// Continuations of written commands, in write order.
        var awaiting = FIFO<Continuation>()
        /// When replies last made progress, or the connection last turned busy: the command
        /// timeout runs from here.
        var lastProgress = NIODeadline.now()
        /// The command-timeout check; armed while replies are due, re-armed when it fires early.
        var timer: Scheduled<Void>?
        /// A reply was served since the connection came up (the reconnect backoff resets).
        var served = false
        /// `close()` was called: new calls fail, the connection closes once those in flight are
        /// answered.
        var closing = false
    }

    private static let shutDown = RedisError(.closed, "the Redis client was shut down")

    /// The loop that owns the socket once connected.
    let eventLoop: any EventLoop
    private let state = Mutex(State())
    /// Signalled to wake the connecting thread out of its backoff (close).
    private let wakeFD: Int32
    private let configuration: RedisConfiguration
    private let commandTimeout: TimeAmount
    /// Shared with the client's other connections (see `ServerRefusal`).
    private let refusal: ServerRefusal

    init(configuration: RedisConfiguration, index: Int, eventLoop: any EventLoop, refusal: ServerRefusal) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.refusal = refusal
        let timeout = configuration.commandTimeout.components
        self.commandTimeout = .nanoseconds(timeout.seconds * 1_000_000_000 + timeout.attoseconds / 1_000_000_000)
        self.wakeFD = chiredis_eventfd()
        let thread = Thread { [self] in self.run() }
        thread.name = "redis-connect-\(index)"
        thread.start()
    }

    deinit { Glibc.close(wakeFD) }

    /// True while the connection is established (AUTH and SELECT done) and not closing.
    var isConnected: Bool {
        state.withLock { state in
            if case .connected = state.status { return !state.closing }
            return false
        }
    }

    /// The error that keeps the connection down, if it is down.
    var lastError: RedisError? {
        state.withLock { state in
            if case .down(let error) = state.status { return error }
            return nil
        }
    }

    /// Sends one command (in RESP form) and returns its reply.
    func send(_ command: ByteBuffer) async throws -> RedisReply {
        try await withUnsafeThrowingContinuation { continuation in
            let (failure, drainNow) = state.withLock { state -> (RedisError?, Bool) in
                if state.closing { return (Self.shutDown, false) }
                switch state.status {
                case .down(let error):
                    return (error.unsent, false)
                case .connecting:
                    state.queue.append(Pending(command: command, continuation: continuation))
                    return (nil, false)
                case .connected:
                    state.queue.append(Pending(command: command, continuation: continuation))
                    if state.drainScheduled { return (nil, false) }
                    state.drainScheduled = true
                    return (nil, true)
                }
            }
            if let failure {
                continuation.resume(throwing: failure)
            } else if drainNow {
                // On the loop already (a caller the gateway runs there): written at once.
                if eventLoop.inEventLoop {
                    drain()
                } else {
                    eventLoop.execute { self.drain() }
                }
            }
        }
    }

    /// Stops the connection once it has answered what is already queued or in flight.
    func close() {
        let idleChannel = state.withLock { state -> (any Channel)? in
            state.closing = true
            guard case .connected(let channel) = state.status, state.awaiting.isEmpty, state.queue.isEmpty else { return nil }
            return channel
        }
        idleChannel?.close(promise: nil)
        chiredis_eventfd_signal(wakeFD)
    }

    // MARK: - On the event loop

    /// Writes every queued command to the current channel (every channel of this connection
    /// lives on its loop), with one flush.
    private func drain() {
        let (batch, channel) = state.withLock { state -> ([Pending], (any Channel)?) in
            state.drainScheduled = false
            guard case .connected(let channel) = state.status else { return ([], nil) }
            let batch = state.queue
            state.queue = []
            if state.awaiting.isEmpty { state.lastProgress = .now() }
            for pending in batch { state.awaiting.append(pending.continuation) }
            if state.timer == nil, !batch.isEmpty { armTimer(&state, channel) }
            return (batch, channel)
        }
        guard let channel, !batch.isEmpty else { return }
        for pending in batch { channel.write(pending.command, promise: nil) }
        channel.flush()
    }

    /// One timer per busy stretch, not per command: when it fires early (replies made
    /// progress meanwhile) it is set again from the last progress.
    private func armTimer(_ state: inout State, _ channel: any Channel) {
        state.timer = eventLoop.scheduleTask(deadline: state.lastProgress + commandTimeout) { [self] in
            timerFired(channel)
        }
    }

    private func timerFired(_ channel: any Channel) {
        let expired = state.withLock { state -> Bool in
            state.timer = nil
            guard case .connected(let current) = state.status, current === channel, !state.awaiting.isEmpty else { return false }
            if NIODeadline.now() - state.lastProgress >= commandTimeout { return true }
            armTimer(&state, channel)
            return false
        }
        if expired { lose(channel, RedisError(.timeout, "no reply within \(configuration.commandTimeout)")) }
    }

    /// Resumes a caller per complete reply fed to `reader`, in order. A reply saying the server
    /// cannot serve is delivered to its caller (whose `checked()` throws `notServing`), then
    /// takes the connection down, but only after every complete reply read behind it has
    /// reached its own caller too: those commands ran, and failing them as lost would tell
    /// their callers otherwise.
    fileprivate func deliver(from reader: UnsafeMutablePointer<redisReader>, _ channel: any Channel) {
        var refused: RedisError?
        var failure: RedisError?
        var progressed = false
        while true {
            var status: Int32 = REDIS_OK
            guard let reply = chiredis_reader_next(reader, &status) else {
                if status != REDIS_OK { failure = RedisError(.connectionLost, "Redis sent a reply that does not parse") }
                break
            }
            let value = RedisReply(copying: reply)
            chiredis_reply_free(reply)
            guard let continuation = state.withLock({ $0.awaiting.popFirst() }) else {
                failure = RedisError(.connectionLost, "Redis sent a reply nobody asked for")
                break
            }
            continuation.resume(returning: value)
            progressed = true
            if refused == nil, case .error(let message) = value {
                let error = RedisError.reply(message)
                if error.code == .notServing { refused = error }
            }
        }
        // A refusal is the reason the connection goes down (and backs off), even if the bytes
        // after it did not parse.
        if let error = refused ?? failure {
            lose(channel, error)
            return
        }
        guard progressed else { return }
        let closeNow = state.withLock { state -> Bool in
            state.lastProgress = .now()
            state.served = true
            return state.closing && state.awaiting.isEmpty && state.queue.isEmpty
        }
        if closeNow { channel.close(promise: nil) }
    }

    /// The connection `channel` is lost with `error` (unless it is already gone): every caller
    /// in flight or queued fails, and the channel closes, which lets the connecting thread go on.
    fileprivate func lose(_ channel: any Channel, _ error: RedisError) {
        let current = state.withLock { state -> Bool in
            if case .connected(let current) = state.status, current === channel { return true }
            return false
        }
        guard current else { return }
        takeDown(with: error)
        channel.close(promise: nil)
    }

    // MARK: - The connecting thread

    private func run() {
        var backoff = configuration.reconnectMin
        while !isClosing {
            let context: UnsafeMutablePointer<redisContext>
            switch connect() {
            case .success(let connected):
                context = connected
            case .failure(let error):
                takeDown(with: error)
                waitBackoff(&backoff)
                continue
            }
            let channel: any Channel
            do {
                channel = try handOver(context)
            } catch {
                takeDown(with: error)
                waitBackoff(&backoff)
                continue
            }
            // The backoff is reset by the first reply served, not here: a server that accepts
            // connections and then refuses every command keeps backing off.
            refusal.clear()
            let drainNow = state.withLock { state -> Bool in
                state.served = false
                state.status = .connected(channel)
                guard !state.queue.isEmpty, !state.drainScheduled else { return false }
                state.drainScheduled = true
                return true
            }
            if drainNow { eventLoop.execute { self.drain() } }
            if isClosing { close() }
            try? channel.closeFuture.wait()

            let (reason, served) = state.withLock { state -> (RedisError?, Bool) in
                if case .down(let error) = state.status { return (error, state.served) }
                return (nil, state.served)
            }
            if reason == nil, !isClosing {
                // Closed without a reason recorded (the handler saw no error): a plain loss.
                takeDown(with: RedisError(.connectionLost, "connection closed"))
            }
            if served { backoff = configuration.reconnectMin }
            // A lost connection is retried at once; a server that answered but refused to
            // serve would refuse again, so the reconnect waits a backoff (calls fail at once
            // meanwhile).
            if reason?.code == .notServing { waitBackoff(&backoff) }
        }
        failAll(with: Self.shutDown, status: .down(Self.shutDown))
    }

    /// Hands a connected, handshaken socket to the event loop: NIO owns a duplicate of the
    /// descriptor, and hiredis's context (which closes its own on free) is freed.
    private func handOver(_ context: UnsafeMutablePointer<redisContext>) throws(RedisError) -> any Channel {
        let descriptor = chiredis_dup_cloexec(chiredis_context_fd(context))
        let errno = chiredis_errno()
        chiredis_free(context)
        guard descriptor >= 0 else {
            throw RedisError(.unavailable, "cannot take over the connection's socket: errno \(errno)")
        }
        do {
            return try ClientBootstrap(group: eventLoop)
                .channelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RedisReplyHandler(connection: self))
                    }
                }
                .withConnectedSocket(descriptor)
                .wait()
        } catch {
            throw RedisError(.unavailable, "cannot hand the connection to its event loop: \(error)")
        }
    }

    private var isClosing: Bool { state.withLock { $0.closing } }

    /// The connection is down with `error`: every caller in flight or queued fails with it, and a
    /// refusal to serve is recorded for the whole pool.
    private func takeDown(with error: RedisError) {
        if error.code == .notServing { refusal.record(error) }
        failAll(with: error, status: .down(error))
    }

    /// Sleeps `backoff` (woken early by close(), which signals the eventfd), then doubles it up
    /// to the maximum.
    private func waitBackoff(_ backoff: inout Duration) {
        _ = chiredis_wait(wakeFD, Int32(clamping: backoff.microseconds / 1000))
        chiredis_eventfd_drain(wakeFD)
        backoff = min(backoff * 2, configuration.reconnectMax)
    }

    /// Fails every caller in flight or queued and sets the status.
    private func failAll(with error: RedisError, status: Status) {
        let (queued, awaiting, timer) = state.withLock { state -> ([Pending], [Continuation], Scheduled<Void>?) in
            state.status = status
            let queued = state.queue
            state.queue = []
            let timer = state.timer
            state.timer = nil
            return (queued, state.awaiting.removeAll(), timer)
        }
        timer?.cancel()
        for continuation in awaiting { continuation.resume(throwing: error.inDoubt) }
        for pending in queued { pending.continuation.resume(throwing: error.unsent) }
    }

    private func connect() -> Result<UnsafeMutablePointer<redisContext>, RedisError> {
        let timeout = configuration.connectTimeout.microseconds
        let ctx: UnsafeMutablePointer<redisContext>?
        let target: String
        switch configuration.endpoint {
        case .tcp(let host, let port):
            ctx = chiredis_connect_tcp(host, Int32(port), timeout)
            target = "\(host):\(port)"
        case .unix(let path):
            ctx = chiredis_connect_unix(path, timeout)
            target = path
        }
        guard let ctx else { return .failure(RedisError(.unavailable, "cannot allocate a hiredis context")) }
        if chiredis_context_err(ctx) != 0 {
            let message = String(cString: chiredis_context_errstr(ctx))
            chiredis_free(ctx)
            return .failure(RedisError(.unavailable, "cannot connect to \(target): \(message)"))
        }
        _ = chiredis_set_timeout(ctx, configuration.commandTimeout.microseconds)

        var handshake: [(RedisCommand, String, RedisError.Code)] = []
        if let password = configuration.password {
            var auth = RedisCommand("AUTH")
            if let username = configuration.username { auth.append(username) }
            auth.append(password)
            handshake.append((auth, "AUTH", .authentication))
        }
        if configuration.database != 0 {
            handshake.append((RedisCommand("SELECT", String(configuration.database)), "SELECT \(configuration.database)", .database))
        }
        do throws(RedisError) {
            for (command, label, code) in handshake {
                if case .error(let message) = try blockingCall(command, on: ctx) {
                    // The server's message names the problem (WRONGPASS, NOAUTH, DB index out of
                    // range); it never echoes the password.
                    throw RedisError(code, "\(label) refused by \(target): \(message)")
                }
            }
            try servingCheck(ctx, target: target)
        } catch {
            chiredis_free(ctx)
            return .failure(error)
        }
        return .success(ctx)
    }

    /// One command and its reply on a connection nothing else uses yet (the handshake).
    private func blockingCall(_ command: RedisCommand, on ctx: UnsafeMutablePointer<redisContext>) throws(RedisError) -> RedisReply {
        let appended = command.resp(ByteBufferAllocator()).withUnsafeReadableBytes { bytes in
            chiredis_append_formatted(ctx, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        guard appended == REDIS_OK, let reply = chiredis_get_reply(ctx) else { throw connectionError(ctx) }
        defer { chiredis_reply_free(reply) }
        return RedisReply(copying: reply)
    }

    /// Whether the server can take the gateway's writes, asked once per connection: `ROLE` (a
    /// replica refuses every script with READONLY; ROLE answers even while loading) and `PING`
    /// (refused while the server loads its data, or without the password it needs). Throws when
    /// it cannot; passes when ROLE is not available (renamed or disabled by a managed service),
    /// since the first command then tells.
    private func servingCheck(_ ctx: UnsafeMutablePointer<redisContext>, target: String) throws(RedisError) {
        for command in [RedisCommand("ROLE"), RedisCommand("PING")] {
            switch try blockingCall(command, on: ctx) {
            case .error(let message):
                if message.hasPrefix("NOAUTH") {
                    throw RedisError(.authentication, "\(target) needs a password: \(message)")
                }
                if RedisError.reply(message).code == .notServing { throw RedisError(.notServing, "\(target): \(message)") }
            case .array(let items):
                if let role = items.first?.string, role != "master" {
                    throw RedisError(
                        .notServing, "\(target) is a \(role == "slave" ? "replica" : role), not the primary: the gateway writes on every request")
                }
            default:
                break
            }
        }
    }

    private func connectionError(_ ctx: UnsafeMutablePointer<redisContext>) -> RedisError {
        let message = String(cString: chiredis_context_errstr(ctx))
        // A socket timeout surfaces as EAGAIN in hiredis 0.14 and as a timeout error in 1.x.
        if message.contains("temporarily unavailable") || message.lowercased().contains("timed out")
            || message.lowercased().contains("timeout")
        {
            return RedisError(.timeout, "no reply within \(configuration.commandTimeout) (\(message))")
        }
        return RedisError(.connectionLost, message.isEmpty ? "connection closed" : message)
    }
}

/// The connection's channel handler: feeds what the socket reads to a hiredis reply parser of
/// its own and hands complete replies to the connection; a closed or failed socket loses it.
private final class RedisReplyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let connection: RedisConnection
    private let reader: UnsafeMutablePointer<redisReader>

    init(connection: RedisConnection) {
        self.connection = connection
        self.reader = chiredis_reader_create()
    }

    deinit { chiredis_reader_free(reader) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let fed = buffer.withUnsafeReadableBytes { bytes in
            chiredis_reader_feed(reader, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        guard fed == REDIS_OK else {
            connection.lose(context.channel, RedisError(.connectionLost, "the reply parser refused the bytes read"))
            return
        }
        connection.deliver(from: reader, context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.lose(context.channel, RedisError(.connectionLost, "Server closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.lose(context.channel, RedisError(.connectionLost, "\(error)"))
    }
}
