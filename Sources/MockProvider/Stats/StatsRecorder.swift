import NIOConcurrencyHelpers

/// Counts requests, tokens and statuses per API key for `GET /_mock/stats`.
///
/// Recording is a dictionary update under a lock, held for nanoseconds; key ids are computed only
/// when the stats are read, not on the request path.
final class StatsRecorder: Sendable {
    private struct State {
        var total = KeyStats()
        var perKey: [String: KeyStats] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// Records one answered request; `key` is nil when the request presented none.
    func record(key: String?, _ record: RequestRecord) {
        state.withLockedValue { state in
            state.total.add(record)
            if let key { state.perKey[key, default: KeyStats()].add(record) }
        }
    }

    func reset() {
        state.withLockedValue { $0 = State() }
    }

    /// Totals, per key id and per raw key (this is a test tool: it shows the keys it was given).
    var json: JSONValue {
        let (total, perKey) = state.withLockedValue { ($0.total, $0.perKey) }
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
        json["keys"] = .object(byID)
        json["by_key"] = .object(byKey)
        return .object(json)
    }
}
