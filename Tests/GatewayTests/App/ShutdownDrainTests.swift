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

    @Test func beginRunsTheClockThenForcesTheStop() async throws {
        let drain = ShutdownDrain()
        let ended = Mutex(false)
        let stopped = Mutex(false)
        _ = drain.register { ended.withLock { $0 = true } }
        drain.onForceStop { stopped.withLock { $0 = true } }
        #expect(drain.phase == .serving)
        drain.begin(seconds: 0.05, logger: Logger(label: "test"))
        #expect(drain.phase == .draining)
        drain.begin(seconds: 0, logger: Logger(label: "test"))  // a second signal restarts nothing
        // Polls (the clock runs on its own task); bounded so a broken drain fails, not hangs.
        for _ in 0..<200 where !ended.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(ended.withLock { $0 })
        #expect(drain.phase == .expired)
        let grace = ShutdownDrain.graceAfterExpirySeconds
        for _ in 0..<Int(grace * 100 + 300) where !stopped.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(stopped.withLock { $0 })
    }

    @Test func aSecondSignalEndsTheDrainAtOnceAndStopsSoonAfter() async throws {
        let drain = ShutdownDrain()
        let ended = Mutex(false)
        let stopped = Mutex(false)
        _ = drain.register { ended.withLock { $0 = true } }
        drain.onForceStop { stopped.withLock { $0 = true } }
        drain.cutShort(logger: Logger(label: "test"))  // before the drain: nothing to cut
        #expect(drain.phase == .serving)
        drain.begin(seconds: 3_600, logger: Logger(label: "test"))
        drain.cutShort(logger: Logger(label: "test"))
        for _ in 0..<200 where !ended.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(ended.withLock { $0 })
        #expect(drain.phase == .expired)
        let grace = ShutdownDrain.graceAfterCutSeconds
        for _ in 0..<Int(grace * 100 + 300) where !stopped.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(stopped.withLock { $0 })
    }
}
