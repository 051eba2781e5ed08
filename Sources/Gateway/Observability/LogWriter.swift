import Foundation
import Synchronization

/// Writes log lines to standard output from a thread of its own.
///
/// A `write(2)` to a pipe blocks when the reader (a container runtime's log driver, a terminal)
/// falls behind; done by the logging call it would block a task on the cooperative pool, or an
/// event loop. Here a logging call only appends to a buffer under a lock; the thread writes.
/// When more than `limit` bytes are waiting the line is dropped and counted (/metrics:
/// `gateway_log_lines_dropped_total`) rather than holding requests up or growing without bound.
///
/// The thread is not woken per line: it writes what has gathered every `interval` (and at once
/// when `wakeBytes` are waiting, or on `flush`). A wake-up per line (a futex call, a context
/// switch and a `write` per request) competed with the requests for the cores; a line now reaches
/// the output at most `interval` after it was logged.
final class LogWriter: Sendable {
    static let standardOutput = LogWriter(fileDescriptor: STDOUT_FILENO)

    private struct Pending {
        var bytes: [UInt8] = []
        /// Lines handed to the thread and not yet written (for `flush`).
        var writing = false
    }

    private let fileDescriptor: Int32
    private let limit: Int
    private let interval: TimeInterval
    /// Waiting bytes that wake the thread before its interval is up.
    static let wakeBytes = 64 * 1024
    private let pending = Mutex(Pending())
    /// Wakes the writer thread, and `flush` when the thread has caught up.
    private let signal = NSCondition()
    private let dropped = Atomic<Int>(0)

    init(fileDescriptor: Int32, limit: Int = 8 * 1024 * 1024, interval: TimeInterval = 0.05) {
        self.fileDescriptor = fileDescriptor
        self.limit = limit
        self.interval = interval
        let thread = Thread { [self] in run() }
        thread.name = "log-writer"
        thread.start()
    }

    /// Lines dropped so far because the output could not keep up.
    var droppedLines: Int { dropped.load(ordering: .relaxed) }

    /// Queues one line (its newline included).
    func write(_ line: some Collection<UInt8>) {
        let waiting = pending.withLock { pending -> Int? in
            guard pending.bytes.count + line.count <= limit else { return nil }
            pending.bytes.append(contentsOf: line)
            return pending.bytes.count
        }
        guard let waiting else {
            dropped.add(1, ordering: .relaxed)
            return
        }
        // Only the line that crosses the mark wakes the thread; the others wait for its round.
        if waiting >= Self.wakeBytes && waiting - line.count < Self.wakeBytes {
            signal.lock()
            signal.signal()
            signal.unlock()
        }
    }

    /// Blocks until every queued line is written (at exit, off the cooperative pool's hot path).
    func flush(timeout: TimeInterval = 2) {
        let deadline = Date(timeIntervalSinceNow: timeout)
        signal.lock()
        defer { signal.unlock() }
        while pending.withLock({ !$0.bytes.isEmpty || $0.writing }) {
            signal.signal()
            guard signal.wait(until: deadline) else { return }
        }
    }

    private func run() {
        while true {
            signal.lock()
            var batch = pending.withLock { pending -> [UInt8] in
                let bytes = pending.bytes
                pending.bytes = []
                pending.writing = !bytes.isEmpty
                return bytes
            }
            if batch.isEmpty {
                signal.broadcast()  // a waiting `flush` sees the queue empty
                _ = signal.wait(until: Date(timeIntervalSinceNow: interval))
                signal.unlock()
                continue
            }
            signal.unlock()
            batch.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Foundation.write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0 && errno == EINTR {
                        continue
                    } else {
                        return  // output closed: nothing more can be written there
                    }
                }
            }
            batch.removeAll()
            pending.withLock { $0.writing = false }
        }
    }
}
