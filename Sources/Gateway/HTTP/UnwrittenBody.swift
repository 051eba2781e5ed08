import Hummingbird
import Synchronization

/// A streamed response body with the work to do if it is never written.
///
/// Hummingbird calls a body's closure only once the response head is written. When the client
/// has already gone (its connection reset while the gateway waited for the provider), that write
/// fails and the closure is dropped without ever running, so whatever it would have done at the
/// end (settle the key's reservation, write the request's log line) would be lost. The closure
/// holds an `UnwrittenBody`; if it is released before the closure ran, its `deinit` runs
/// `abandoned` (which must not block: it starts a task for what needs one).
final class UnwrittenBody: Sendable {
    private let written = Atomic<Bool>(false)
    private let abandoned: @Sendable () -> Void

    private init(_ abandoned: @escaping @Sendable () -> Void) {
        self.abandoned = abandoned
    }

    deinit {
        guard !written.load(ordering: .acquiring) else { return }
        abandoned()
    }

    /// A body that runs `write` when Hummingbird writes it, or `abandoned` when it never does.
    static func body(
        abandoned: @escaping @Sendable () -> Void,
        write: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void
    ) -> ResponseBody {
        let unwritten = UnwrittenBody(abandoned)
        return ResponseBody { writer in
            unwritten.written.store(true, ordering: .releasing)
            try await write(&writer)
        }
    }
}
