import KeyPool
import Synchronization

/// Settles that run after their answer was handed to the server, counted so that shutdown waits
/// for them before it closes the store.
///
/// A whole (non-streamed) answer goes to Hummingbird as one buffer, which it writes with its head
/// in a single flush; nothing can run after that write inside the request, so the answer's
/// settle runs beside it, in a task of its own. The client never waits on the store, and the
/// settle happens whether or not the write reaches the client (the provider did the work).
final class PendingSettles: Sendable {
    private struct Tasks {
        var next = 0
        var running: [Int: Task<Void, Never>] = [:]
    }

    private let tasks = Mutex(Tasks())

    /// Runs `settle` in its own task.
    func run(_ settle: @escaping @Sendable () async -> Void) {
        tasks.withLock { tasks in
            let id = tasks.next
            tasks.next += 1
            // The task's removal takes the lock, so it cannot happen before this insertion.
            tasks.running[id] = Task {
                await settle()
                self.remove(id)
            }
        }
    }

    /// Waits for the settles in progress (and any they lead to) for at most `limit`.
    func finish(within limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while true {
            let running = tasks.withLock { Array($0.running.values) }
            if running.isEmpty { return }
            for task in running {
                guard await TaskWait.ended(task, by: deadline) else { return }
            }
        }
    }

    private func remove(_ id: Int) {
        _ = tasks.withLock { $0.running.removeValue(forKey: id) }
    }
}
