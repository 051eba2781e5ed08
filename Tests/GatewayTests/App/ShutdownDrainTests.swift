import Logging
import Synchronization
import Testing

@testable import Gateway

@Suite("Shutdown drain: open streams are told to end when the drain time is over")
struct ShutdownDrainTests {
    @Test func expiryEndsEveryRegisteredStreamOnce() {
        let drain = ShutdownDrain()
        let ended = Mutex([Int]())
        let first = drain.register { ended.withLock { $0.append(1) } }
        let second = drain.register { ended.withLock { $0.append(2) } }
        let third = drain.register { ended.withLock { $0.append(3) } }
        #expect(first != nil && second != nil && third != nil)
        drain.unregister(second!)  // a stream that finished on its own
        #expect(drain.openStreams == 2)
        #expect(drain.expire() == 2)
        #expect(ended.withLock { $0.sorted() } == [1, 3])
        #expect(drain.expire() == 0)  // nothing is ended twice
        #expect(ended.withLock { $0.count } == 2)
    }

    @Test func aStreamStartingAfterExpiryIsRefused() {
        let drain = ShutdownDrain()
        drain.expire()
        let called = Mutex(false)
        #expect(drain.register { called.withLock { $0 = true } } == nil)
        #expect(!called.withLock { $0 })
        #expect(drain.phase == .expired)
    }

    /// Log lines as they were logged, for the drain's notices.
    final class LogCapture: Sendable {
        let lines = Mutex<[(message: String, metadata: Logger.Metadata)]>([])

        var logger: Logger { Logger(label: "test") { _ in Handler(capture: self) } }

        struct Handler: LogHandler {
            let capture: LogCapture
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .trace

            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }

            func log(event: LogEvent) {
                capture.lines.withLock { $0.append(("\(event.message)", event.metadata ?? [:])) }
            }
        }
    }

    @Test func theNoticeCountsEveryRequestInFlightNotOnlyStreams() throws {
        let drain = ShutdownDrain()
        let log = LogCapture()
        for _ in 0..<4 { drain.requestStarted() }  // three whole answers and a stream
        drain.requestFinished()  // one of the whole answers is already out
        _ = drain.register {}
        #expect(drain.requestsInFlight == 3)
        drain.begin(seconds: 3_600, logger: log.logger)
        let notice = try #require(log.lines.withLock { $0.first })
        #expect(notice.message == "shutting down: no new connections; draining 3 requests in flight (1 of them streams) for up to 3600.0 s")
        #expect(notice.metadata["requests_in_flight"]?.description == "3")
        #expect(notice.metadata["streams_in_flight"]?.description == "1")
        #expect(notice.metadata["drain_seconds"]?.description == "3600.0")
    }

    /// A drain with one open stream, and what happened to it and to the process.
    final class Watched: Sendable {
        let drain = ShutdownDrain()
        let ended = Mutex(false)
        let stopped = Mutex(false)

        init() {
            _ = drain.register { self.ended.withLock { $0 = true } }
            drain.onForceStop { self.stopped.withLock { $0 = true } }
        }

        var isEnded: Bool { ended.withLock { $0 } }
        var isStopped: Bool { stopped.withLock { $0 } }

        /// Polls `condition` for up to `seconds` (the drain's clock runs on its own task);
        /// bounded so a broken drain fails, not hangs.
        func wait(seconds: Double, until condition: () -> Bool) async throws -> Bool {
            for _ in 0..<Int(seconds * 100) where !condition() { try await Task.sleep(for: .milliseconds(10)) }
            return condition()
        }
    }

    @Test func beginRunsTheClockThenForcesTheStop() async throws {
        let watched = Watched()
        let drain = watched.drain
        #expect(drain.phase == .serving)
        drain.begin(seconds: 0.05, logger: Logger(label: "test"))
        #expect(drain.phase == .draining)
        drain.begin(seconds: 0, logger: Logger(label: "test"))  // a second signal restarts nothing
        #expect(try await watched.wait(seconds: 2) { watched.isEnded })
        #expect(drain.phase == .expired)
        #expect(try await watched.wait(seconds: ShutdownDrain.graceAfterExpirySeconds + 3) { watched.isStopped })
    }

    @Test func aSecondSignalEndsTheDrainAtOnceAndStopsSoonAfter() async throws {
        let watched = Watched()
        let drain = watched.drain
        drain.cutShort(logger: Logger(label: "test"))  // before the drain: nothing to cut
        #expect(drain.phase == .serving)
        drain.begin(seconds: 3_600, logger: Logger(label: "test"))
        drain.cutShort(logger: Logger(label: "test"))
        #expect(try await watched.wait(seconds: 2) { watched.isEnded })
        #expect(drain.phase == .expired)
        #expect(try await watched.wait(seconds: ShutdownDrain.graceAfterCutSeconds + 3) { watched.isStopped })
    }
}
