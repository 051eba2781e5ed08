import Synchronization

/// What one request came to, filled in as it is handled and read once it has ended (a stream's
/// end included) for its log line and metrics.
///
/// A class in the request context, so the handler and the stream's body writer (which runs
/// after the handler returned) fill the same record the middleware reads.
final class RequestRecord: Sendable {
    struct Fields: Sendable {
        /// The key id of the access key presented (never the key).
        var accessKeyID: String?
        /// `model` as the client sent it (logged; never a metric label, which would let clients
        /// make up series).
        var modelRequested: String?
        /// The latest try's provider entry, served model name and key id, and the tries made.
        var provider: String?
        var model: String?
        var keyID: String?
        var attempts = 0
        var stream = false
        /// The final try's time from sending to the upstream's answer head.
        var upstreamSeconds: Double?
        var timeToFirstTokenSeconds: Double?
        var tokensIn: Int?
        var tokensOut: Int?
        /// The error code the client got (or the stream's closing error event carried).
        var error: String?
        var requestBody: String?
        var responseBody: String?
    }

    /// `x-request-id`: the client's when it sent a usable one, else made here.
    let id: String
    /// `ContinuousClock` reading at the request's arrival.
    let start: ContinuousClock.Instant
    private let fields = Mutex(Fields())

    /// The context's record before the middleware gives it one (never read).
    static let unattached = RequestRecord(id: "")

    init(id: String, start: ContinuousClock.Instant = .now) {
        self.id = id
        self.start = start
    }

    func update(_ change: (inout Fields) -> Void) {
        fields.withLock { change(&$0) }
    }

    var snapshot: Fields { fields.withLock { $0 } }

    /// Seconds since the request arrived.
    var elapsedSeconds: Double { Self.seconds(start.duration(to: .now)) }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
