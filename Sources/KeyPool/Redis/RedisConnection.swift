import CHiredis
import Dispatch
import Foundation
import Synchronization

/// One Redis connection served by a dedicated I/O thread, with auto-pipelining.
///
/// Callers append a formatted command and a continuation to a FIFO and suspend. The I/O thread
/// takes everything queued at once, appends it to hiredis's output buffer, then reads the
/// replies in order and resumes each caller with its own reply (RediStack's FIFO-of-promises
/// idea on a blocking socket). Many concurrent callers therefore share one round trip per batch.
/// Blocking hiredis calls happen only on this thread, never on a NIO event loop or the
/// cooperative pool. While the connection is down, calls fail at once (no waiting) and the
/// thread reconnects with backoff.
final class RedisConnection: Sendable {
    private struct Pending {
        let command: FormattedCommand
        let continuation: UnsafeContinuation<RedisReply, any Error>
    }

    private enum Status {
        case connecting
        case connected
        case down(RedisError)
        case closed
    }

    private struct State {
        var queue: [Pending] = []
        var threadSleeping = false
        var status: Status = .connecting
    }

    private let state = Mutex(State())
    /// Signalled when work arrives for a sleeping thread, or on close.
    private let wakeup = DispatchSemaphore(value: 0)
    private let configuration: RedisConfiguration
    private let name: String

    init(configuration: RedisConfiguration, index: Int) {
        self.configuration = configuration
        self.name = "redis-io-\(index)"
        let thread = Thread { [self] in self.run() }
        thread.name = name
        thread.start()
    }

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
                    return (false, error)
                case .closed:
                    return (false, RedisError(.closed, "the Redis client was shut down"))
                case .connecting, .connected:
                    state.queue.append(Pending(command: command, continuation: continuation))
                    guard state.threadSleeping else { return (false, nil) }
                    state.threadSleeping = false
                    return (true, nil)
                }
            }
            if let failure {
                continuation.resume(throwing: failure)
            } else if wake {
                wakeup.signal()
            }
        }
    }

    /// Stops the I/O thread once it has answered what is already queued.
    func close() {
        state.withLock { $0.status = .closed }
        wakeup.signal()
    }

    // MARK: - I/O thread

    private func run() {
        var context: UnsafeMutablePointer<redisContext>?
        var backoff = configuration.reconnectMin
        var batch: [Pending] = []
        while true {
            if context == nil {
                if isClosed { break }
                switch connect() {
                case .success(let connected):
                    context = connected
                    backoff = configuration.reconnectMin
                    state.withLock { state in
                        if case .closed = state.status { return }
                        state.status = .connected
                    }
                case .failure(let error):
                    failQueued(settingStatus: .down(error), with: error)
                    // The semaphore doubles as an interruptible sleep: close() cuts it short.
                    _ = wakeup.wait(timeout: .now() + .microseconds(backoff.microseconds))
                    backoff = min(backoff * 2, configuration.reconnectMax)
                    continue
                }
            }

            let exit = state.withLock { state -> Bool in
                if state.queue.isEmpty {
                    if case .closed = state.status { return true }
                    state.threadSleeping = true
                    return false
                }
                swap(&batch, &state.queue)
                return false
            }
            if exit { break }
            if batch.isEmpty {
                wakeup.wait()
                continue
            }

            guard let ctx = context else { continue }
            if let error = process(batch, on: ctx) {
                chiredis_free(ctx)
                context = nil
                failQueued(settingStatus: .down(error), with: error)
            }
            // Keep the array's capacity for the next batch; the queue gets it back by swap.
            batch.removeAll(keepingCapacity: true)
        }
        if let context { chiredis_free(context) }
        failQueued(settingStatus: .closed, with: RedisError(.closed, "the Redis client was shut down"))
    }

    /// Writes a batch and reads its replies in order. Returns the connection error that ended
    /// it, after failing every caller of the batch that did not get its reply.
    private func process(_ batch: [Pending], on ctx: UnsafeMutablePointer<redisContext>) -> RedisError? {
        for pending in batch {
            if chiredis_append_formatted(ctx, pending.command.pointer, pending.command.length) != REDIS_OK {
                let error = connectionError(ctx)
                for pending in batch { pending.continuation.resume(throwing: error) }
                return error
            }
        }
        for (index, pending) in batch.enumerated() {
            guard let reply = chiredis_get_reply(ctx) else {
                let error = connectionError(ctx)
                for waiting in batch[index...] { waiting.continuation.resume(throwing: error) }
                return error
            }
            let value = RedisReply(copying: reply)
            chiredis_reply_free(reply)
            pending.continuation.resume(returning: value)
        }
        return nil
    }

    private var isClosed: Bool {
        state.withLock { state in
            if case .closed = state.status { return true }
            return false
        }
    }

    private func failQueued(settingStatus status: Status, with error: RedisError) {
        let stranded = state.withLock { state -> [Pending] in
            if case .closed = state.status {} else { state.status = status }
            state.threadSleeping = false
            let queued = state.queue
            state.queue = []
            return queued
        }
        for pending in stranded { pending.continuation.resume(throwing: error) }
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

        var handshake: [(RedisCommand, String)] = []
        if let password = configuration.password {
            var auth = RedisCommand("AUTH")
            if let username = configuration.username { auth.append(username) }
            auth.append(password)
            handshake.append((auth, "AUTH"))
        }
        if configuration.database != 0 {
            handshake.append((RedisCommand("SELECT", String(configuration.database)), "SELECT \(configuration.database)"))
        }
        for (command, label) in handshake {
            do {
                let formatted = try FormattedCommand(command)
                guard chiredis_append_formatted(ctx, formatted.pointer, formatted.length) == REDIS_OK,
                    let reply = chiredis_get_reply(ctx)
                else {
                    let error = connectionError(ctx)
                    chiredis_free(ctx)
                    return .failure(error)
                }
                let value = RedisReply(copying: reply)
                chiredis_reply_free(reply)
                if case .error(let message) = value {
                    chiredis_free(ctx)
                    // The server's message names the problem (WRONGPASS, NOAUTH, DB index out of
                    // range); it never echoes the password.
                    return .failure(RedisError(.authentication, "\(label) refused by \(target): \(message)"))
                }
            } catch {
                chiredis_free(ctx)
                return .failure(error)
            }
        }
        return .success(ctx)
    }

    private func connectionError(_ ctx: UnsafeMutablePointer<redisContext>) -> RedisError {
        let message = String(cString: chiredis_context_errstr(ctx))
        // A read that hits SO_RCVTIMEO surfaces as EAGAIN in hiredis 0.14 and as a timeout
        // error in 1.x; either way the server did not answer in time.
        if message.contains("temporarily unavailable") || message.lowercased().contains("timed out")
            || message.lowercased().contains("timeout")
        {
            return RedisError(.timeout, "no reply within \(configuration.commandTimeout) (\(message))")
        }
        return RedisError(.connectionLost, message.isEmpty ? "connection closed" : message)
    }
}

extension RedisReply {
    /// Copies a hiredis reply tree into Swift values; the caller frees the C reply.
    init(copying reply: UnsafePointer<redisReply>) {
        switch Int(chiredis_reply_type(reply)) {
        case Int(CHIREDIS_REPLY_STRING):
            let length = chiredis_reply_len(reply)
            if length == 0 {
                self = .bulk([])
            } else {
                self = .bulk(Array(UnsafeRawBufferPointer(start: chiredis_reply_str(reply), count: length)))
            }
        case Int(CHIREDIS_REPLY_INTEGER):
            self = .integer(chiredis_reply_integer(reply))
        case Int(CHIREDIS_REPLY_STATUS):
            self = .status(Self.text(reply))
        case Int(CHIREDIS_REPLY_ERROR):
            self = .error(Self.text(reply))
        case Int(CHIREDIS_REPLY_ARRAY):
            let count = chiredis_reply_elements(reply)
            var elements: [RedisReply] = []
            elements.reserveCapacity(count)
            for index in 0..<count {
                elements.append(RedisReply(copying: chiredis_reply_element(reply, index)))
            }
            self = .array(elements)
        default:
            self = .null
        }
    }

    private static func text(_ reply: UnsafePointer<redisReply>) -> String {
        let length = chiredis_reply_len(reply)
        guard length > 0, let str = chiredis_reply_str(reply) else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: length), as: UTF8.self)
    }
}
