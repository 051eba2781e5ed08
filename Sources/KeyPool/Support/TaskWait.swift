import Synchronization

/// Waiting for a task with a deadline. Awaiting a task's value cannot be cancelled, so a task
/// group racing it against a sleep still waits for the task, whatever the clock: the first of
/// the two events resumes the waiter here instead, and the other is left to end on its own.
public enum TaskWait {
    /// Whether `task` ended by `deadline` (returns at the first of the two).
    public static func ended(_ task: Task<Void, Never>, by deadline: ContinuousClock.Instant) async -> Bool {
        let race = Race()
        return await withCheckedContinuation { continuation in
            race.waiting.withLock { $0 = continuation }
            let timer = Task {
                try? await Task.sleep(until: deadline)
                race.end(false)
            }
            Task {
                await task.value
                race.end(true)
                timer.cancel()
            }
        }
    }

    /// The first of two events to end a wait resumes it.
    private final class Race: Sendable {
        let waiting = Mutex<CheckedContinuation<Bool, Never>?>(nil)

        func end(_ value: Bool) {
            waiting.withLock { $0.take() }?.resume(returning: value)
        }
    }
}
