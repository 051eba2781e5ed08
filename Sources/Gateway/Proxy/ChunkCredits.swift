import Synchronization

/// How many chunks the upstream reader may be ahead of the client writer in `StreamPump`.
///
/// The reader takes a credit before it hands a chunk over and the writer gives it back once the
/// chunk is written to the client, so a client that reads slowly stops the reads from the
/// provider after `limit` chunks (and the provider's socket then fills), instead of the gateway
/// holding the rest of the stream in memory.
final class ChunkCredits: Sendable {
    private struct State {
        var available: Int
        var waiter: CheckedContinuation<Void, any Error>?
        var cancelled = false
    }

    private let state: Mutex<State>

    init(limit: Int) {
        state = Mutex(State(available: max(1, limit)))
    }

    /// Takes a credit, waiting for one; throws `CancellationError` once the task is cancelled.
    /// One reader only.
    func take() async throws {
        let taken = state.withLock { state -> Bool in
            guard state.available > 0 else { return false }
            state.available -= 1
            return true
        }
        if taken { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let resume = state.withLock { state -> Result<Void, any Error>? in
                    if state.cancelled { return .failure(CancellationError()) }
                    if state.available > 0 {
                        state.available -= 1
                        return .success(())
                    }
                    state.waiter = continuation
                    return nil
                }
                if let resume { continuation.resume(with: resume) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Gives a credit back (a chunk was written to the client).
    func give() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter  // the credit goes straight to the waiting reader
            }
            state.available += 1
            return nil
        }
        waiter?.resume()
    }
}
