import NIOConcurrencyHelpers

/// Counts requests, tokens and statuses per API key for `GET /_mock/stats`.
///
/// Recording is a dictionary update under a lock, held for nanoseconds; key ids are computed only
/// when the stats are read, not on the request path.
final class StatsRecorder: Sendable {
    private struct State {
        var total = KeyStats()
        var perKey: [String: KeyStats] = [:]
        /// Requests that arrived and are not counted yet (waiting out a latency fault): each
        /// will enter the stats later, so a reader that wants a quiet baseline waits for 0.
        var pending = 0
    }

    private let state = NIOLockedValueBox(State())

    /// One request from its arrival until it is counted, shown as `pending` meanwhile. Owned by
    /// the request's handler: counted once, or ended uncounted when the handler leaves.
    struct Arrival {
        fileprivate let stats: StatsRecorder
        private var open = true

        fileprivate init(_ stats: StatsRecorder) { self.stats = stats }

        /// Counts the request (`key` is nil when it presented none); only the first call counts.
        mutating func count(key: String?, _ record: RequestRecord) {
            guard open else { return }
            open = false
            stats.state.withLockedValue { state in
                state.pending -= 1
                state.total.add(record)
                if let key { state.perKey[key, default: KeyStats()].add(record) }
            }
        }

        /// The handler is done: a request it never counted (its body could not be used) stops
        /// being pending.
        mutating func end() {
            guard open else { return }
            open = false
            stats.state.withLockedValue { $0.pending -= 1 }
        }
    }

    /// A request arrived: pending until its `Arrival` counts or ends it.
    func arrive() -> Arrival {
        state.withLockedValue { $0.pending += 1 }
        return Arrival(self)
    }

    /// Clears the counts. Requests still pending stay pending: they are counted after the reset,
    /// which is why a test's clean slate waits for `pending` to reach 0 first.
    func reset() {
        state.withLockedValue { $0 = State(pending: $0.pending) }
    }

    /// Totals, per key id and per raw key (this is a test tool: it shows the keys it was given).
    var json: JSONValue {
        let (total, perKey, pending) = state.withLockedValue { ($0.total, $0.perKey, $0.pending) }
        var byID: [String: JSONValue] = [:]
        var byKey: [String: JSONValue] = [:]
        for (key, stats) in perKey {
            let id = KeyID.of(key)
            var entry = stats.json
            entry["key_id"] = .string(id)
            byKey[key] = .object(entry)
            entry["key"] = .string(key)
            byID[id] = .object(entry)
        }
        var json = total.json
        json["pending"] = .int(pending)
        json["keys"] = .object(byID)
        json["by_key"] = .object(byKey)
        return .object(json)
    }
}
