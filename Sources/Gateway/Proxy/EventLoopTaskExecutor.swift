import NIOCore

/// Runs a task's jobs on one NIO event loop: the executor a stream's relay prefers.
///
/// Relayed from Swift's cooperative pool, every SSE event crossed threads twice: the upstream
/// connection's event loop resumed the relay on a pool thread (a futex wake-up), and the relay's
/// write went back to the client connection's event loop. With the relay on the client's event
/// loop, and its upstream connection opened on that same loop (`UpstreamClient.post(preferring:)`),
/// an event is read, split and written to the client on one thread without a hand-off (see
/// docs/benchmarks.md, *Streaming and memory*). The relay never blocks: it only awaits. Its
/// CPU work (splitting events, and for Gemini and Anthropic translating each one) now runs on
/// that loop, between its I/O: events are small, and a large one delays the loop's other
/// connections by about what its translation costs.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
