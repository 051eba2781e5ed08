import CHiredis
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One Redis connection served by a dedicated I/O thread, with auto-pipelining.
///
/// Replies come back in the order commands were written, so every written command leaves its
/// continuation in one FIFO (`awaiting`) and the I/O thread resumes them in order as replies
/// arrive (RediStack's FIFO-of-promises idea on a blocking socket). Writes take one of two paths:
/// - idle connection (nothing in flight, nothing queued): the caller writes its command itself
///   with a non-blocking `send`, under the lock that orders the FIFO. The I/O thread, waiting in
///   `poll` on the socket, wakes when the reply arrives. A lone request thus costs one thread
///   wake-up less than handing it to a sleeping thread;
/// - busy connection: the caller queues the command and suspends. The I/O thread, which is
///   writing or waiting for replies anyway, writes everything queued in one go after reading
///   what arrived, so many concurrent callers share each write and each read.
/// Blocking calls happen only on the I/O thread, never on a NIO event loop or the cooperative
/// pool (the caller's `send` is MSG_DONTWAIT; what it cannot write at once, the thread writes).
/// While the connection is down, calls fail at once and the thread reconnects with backoff.
/// A server that answers but cannot serve (an error reply such as `READONLY` after a failover,
/// `LOADING`, `OOM`: see `RedisError.notServing`) takes the connection down the same way, after
/// the reply has reached its caller: the thread reconnects after a backoff, following a host name
/// that now points at the new primary, and refuses a server that is a replica when it connects.
/// So `isConnected` (and with it `/health` and `/ready`) tells whether the server serves.
final class RedisConnection: Sendable {
    private typealias Continuation = UnsafeContinuation<RedisReply, any Error>

    private struct Pending {
        let command: FormattedCommand
        let continuation: Continuation
    }

    private enum Status {
        case connecting
        case connected
        case down(RedisError)
        case closed
    }

    private struct State {
        /// Commands the I/O thread has yet to write.
        var queue: [Pending] = []
        /// Continuations of written commands, in write order.
        var awaiting = FIFO<Continuation>()
        /// A caller's direct write the socket took only part of: the thread writes the rest first.
        var partial: (command: FormattedCommand, written: Int)?
        /// The I/O thread owns the socket's write side (no direct writes meanwhile).
        var ioWriting = false
        /// The I/O thread is (about to be) in poll: the first command queued must wake it, or the
        /// command would wait for the replies in flight before being written.
        var threadPolling = false
        var status: Status = .connecting
        /// The current connection's socket, or -1.
        var fd: Int32 = -1
    }

    private let state = Mutex(State())
    /// Signalled to wake the I/O thread out of `poll` (a partial write to finish, or close).
    private let wakeFD: Int32
    private let configuration: RedisConfiguration
    private let name: String
    /// Shared with the client's other connections (see `ServerRefusal`).
    private let refusal: ServerRefusal

    init(configuration: RedisConfiguration, index: Int, refusal: ServerRefusal) {
        self.configuration = configuration
        self.refusal = refusal
        self.name = "redis-io-\(index)"
        self.wakeFD = chiredis_eventfd()
        let thread = Thread { [self] in self.run() }
        thread.name = name
        thread.start()
    }

    deinit { Glibc.close(wakeFD) }

    /// True while the connection is established (AUTH and SELECT done).
    var isConnected: Bool {
        state.withLock { state in
            if case .connected = state.status { return true }
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

    func send(_ command: FormattedCommand) async throws -> RedisReply {
        try await withUnsafeThrowingContinuation { continuation in
            let (wake, failure) = state.withLock { state -> (Bool, RedisError?) in
                switch state.status {
                case .down(let error):
                    return (false, error.unsent)
                case .closed:
                    return (false, RedisError(.closed, "the Redis client was shut down"))
                case .connecting:
                    state.queue.append(Pending(command: command, continuation: continuation))
                    return (false, nil)
                case .connected:
                    guard state.awaiting.isEmpty, state.queue.isEmpty, !state.ioWriting, state.fd >= 0 else {
                        // The thread is writing or waiting for replies: it takes the queue next,
                        // woken once if it sits in poll.
                        state.queue.append(Pending(command: command, continuation: continuation))
                        let wake = state.threadPolling
                        state.threadPolling = false
                        return (wake, nil)
                    }
                    let sent = chiredis_send_nonblocking(state.fd, command.pointer, command.length)
                    state.awaiting.append(continuation)
                    if sent == command.length { return (false, nil) }
                    // Partly written, would block, or failed: the thread finishes the write (or
                    // meets the error and fails everything in flight).
                    state.partial = (command, max(0, sent))
                    state.ioWriting = true
                    return (true, nil)
                }
            }
            if let failure {
                continuation.resume(throwing: failure)
            } else if wake {
                chiredis_eventfd_signal(wakeFD)
            }
        }
    }

    /// Stops the I/O thread once it has answered what is already queued.
    func close() {
        state.withLock { $0.status = .closed }
        chiredis_eventfd_signal(wakeFD)
    }

    // MARK: - I/O thread

    private enum Step {
        case exit
        case write([Pending], (command: FormattedCommand, written: Int)?)
        case read
        case idle
    }

    private func run() {
        var context: UnsafeMutablePointer<redisContext>?
        var backoff = configuration.reconnectMin
        let clock = ContinuousClock()
        // When replies last made progress (or the connection was last idle): the command
        // timeout runs from here, however often senders wake the thread meanwhile.
        var lastProgress = clock.now
        while true {
            guard let ctx = context else {
                if isClosed { break }
                switch connect() {
                case .success(let connected):
                    // The backoff is reset by the first reply served, not here: a server that
                    // accepts connections and then refuses every command keeps backing off.
                    context = connected
                    refusal.clear()
                    state.withLock { state in
                        state.fd = chiredis_context_fd(connected)
                        if case .closed = state.status { return }
                        state.status = .connected
                    }
                case .failure(let error):
                    takeDown(with: error)
                    waitBackoff(&backoff)
                }
                continue
            }

            let step = state.withLock { state -> Step in
                state.threadPolling = false
                if state.partial != nil || !state.queue.isEmpty {
                    // Everything taken here is written next, before any direct write, so its
                    // continuations join the FIFO now, in order.
                    let batch = state.queue
                    state.queue = []
                    for pending in batch { state.awaiting.append(pending.continuation) }
                    state.ioWriting = true
                    let partial = state.partial
                    state.partial = nil
                    return .write(batch, partial)
                }
                if !state.awaiting.isEmpty {
                    state.threadPolling = true
                    return .read
                }
                if case .closed = state.status { return .exit }
                state.threadPolling = true
                return .idle
            }

            var failure: RedisError?
            switch step {
            case .exit:
                chiredis_free(ctx)
                context = nil
                failAll(with: RedisError(.closed, "the Redis client was shut down"), status: .closed)
                return
            case .write(let batch, let partial):
                failure = write(batch, partial, on: ctx)
                state.withLock { $0.ioWriting = false }
            case .read, .idle:
                // Idle: wait for a reply to a caller's direct write (or for the server to hang
                // up); either way the socket turns readable. Read: replies are due; waiting
                // longer than the command timeout since the last progress fails them.
                if case .idle = step { lastProgress = clock.now }
                let remaining = configuration.commandTimeout - (clock.now - lastProgress)
                if remaining <= .zero {
                    failure = RedisError(.timeout, "no reply within \(configuration.commandTimeout)")
                    break
                }
                let ready = chiredis_wait(
                    chiredis_context_fd(ctx), wakeFD, Int32(clamping: remaining.microseconds / 1000 + 1))
                if ready < 0 {
                    failure = RedisError(.connectionLost, "poll failed: errno \(chiredis_errno())")
                } else if ready == 1 {
                    let (error, progressed) = readReplies(on: ctx)
                    failure = error
                    if progressed { lastProgress = clock.now }
                    if progressed, error == nil { backoff = configuration.reconnectMin }
                } else if ready == 2 {
                    chiredis_eventfd_drain(wakeFD)
                }
            }
            if let failure {
                chiredis_free(ctx)
                context = nil
                takeDown(with: failure)
                // A lost connection is retried at once; a server that answered but refused to
                // serve would refuse again, so the reconnect waits a backoff (calls fail at once
                // meanwhile).
                if failure.code == .notServing { waitBackoff(&backoff) }
            }
        }
        if let context { chiredis_free(context) }
        failAll(with: RedisError(.closed, "the Redis client was shut down"), status: .closed)
    }

    /// Writes a partial direct write's rest, then the batch, with blocking writes.
    private func write(
        _ batch: [Pending], _ partial: (command: FormattedCommand, written: Int)?,
        on ctx: UnsafeMutablePointer<redisContext>
    ) -> RedisError? {
        if let partial, partial.written < partial.command.length {
            let rest = partial.command.pointer + partial.written
            if chiredis_append_formatted(ctx, rest, partial.command.length - partial.written) != REDIS_OK {
                return connectionError(ctx)
            }
        }
        for pending in batch {
            if chiredis_append_formatted(ctx, pending.command.pointer, pending.command.length) != REDIS_OK {
                return connectionError(ctx)
            }
        }
        var done: Int32 = 0
        while done == 0 {
            if chiredis_buffer_write(ctx, &done) != REDIS_OK { return connectionError(ctx) }
        }
        return nil
    }

    /// Reads what the socket holds and resumes a caller per complete reply, in order.
    /// Returns the connection error, if any, and whether at least one reply was delivered. A
    /// reply saying the server cannot serve is delivered to its caller (whose `checked()` throws
    /// `notServing`), then returned as the error that takes the connection down, but only after
    /// every complete reply read behind it has reached its own caller too: those commands ran,
    /// and failing them as lost would tell their callers otherwise.
    private func readReplies(on ctx: UnsafeMutablePointer<redisContext>) -> (RedisError?, Bool) {
        if chiredis_buffer_read(ctx) != REDIS_OK { return (connectionError(ctx), false) }
        var progressed = false
        var refused: RedisError?
        while true {
            var status: Int32 = REDIS_OK
            guard let reply = chiredis_reply_from_reader(ctx, &status) else {
                // A refusal is the reason the connection goes down (and backs off), even if the
                // bytes after it did not parse.
                return (refused ?? (status == REDIS_OK ? nil : connectionError(ctx)), progressed)
            }
            let value = RedisReply(copying: reply)
            chiredis_reply_free(reply)
            guard let continuation = state.withLock({ $0.awaiting.popFirst() }) else {
                return (refused ?? RedisError(.connectionLost, "Redis sent a reply nobody asked for"), progressed)
            }
            continuation.resume(returning: value)
            progressed = true
            if refused == nil, case .error(let message) = value {
                let error = RedisError.reply(message)
                if error.code == .notServing { refused = error }
            }
        }
    }

    private var isClosed: Bool {
        state.withLock { state in
            if case .closed = state.status { return true }
            return false
        }
    }

    /// The connection is down with `error`: every caller in flight or queued fails with it, and a
    /// refusal to serve is recorded for the whole pool.
    private func takeDown(with error: RedisError) {
        if error.code == .notServing { refusal.record(error) }
        failAll(with: error, status: .down(error))
    }

    /// Sleeps `backoff` (woken early by close(), which signals the eventfd), then doubles it up
    /// to the maximum.
    private func waitBackoff(_ backoff: inout Duration) {
        _ = chiredis_wait(-1, wakeFD, Int32(clamping: backoff.microseconds / 1000))
        chiredis_eventfd_drain(wakeFD)
        backoff = min(backoff * 2, configuration.reconnectMax)
    }

    /// Fails every caller in flight or queued and sets the status (closed stays closed).
    private func failAll(with error: RedisError, status: Status) {
        let (queued, awaiting) = state.withLock { state -> ([Pending], [Continuation]) in
            if case .closed = state.status {} else { state.status = status }
            state.fd = -1
            state.ioWriting = false
            state.partial = nil
            let queued = state.queue
            state.queue = []
            return (queued, state.awaiting.removeAll())
        }
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
        let formatted = try FormattedCommand(command)
        guard chiredis_append_formatted(ctx, formatted.pointer, formatted.length) == REDIS_OK,
            let reply = chiredis_get_reply(ctx)
        else { throw connectionError(ctx) }
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
