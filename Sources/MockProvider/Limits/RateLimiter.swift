import Foundation
import NIOConcurrencyHelpers

/// Per-key provider limits and the deterministic error-rate counters.
///
/// One lock guards plain dictionaries; it is held only for arithmetic on a key's window, never
/// across a sleep or a write, so requests of different keys barely contend.
final class RateLimiter: Sendable {
    private struct State {
        var windows: [String: RateWindow] = [:]
        var faultCounters: [String: Int] = [:]
    }

    private let state = NIOLockedValueBox(State())
    private let clock: @Sendable () -> Double

    /// - Parameter clock: seconds since the epoch; injectable so windows can be tested.
    init(clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.clock = clock
    }

    /// Admits one request of `tokens` tokens for `key` if both windows have room, and records it.
    func admit(key: String, requestLimit: Int?, tokenLimit: Int?, tokens: Int) -> LimitStatus {
        // Fast path: unlimited keys (the benchmark's) touch no shared state at all.
        if requestLimit == nil && tokenLimit == nil { return .unlimited }
        let now = clock()
        return state.withLockedValue { state in
            var window = state.windows[key] ?? RateWindow()
            let totals = window.totals(now: now)
            var status = LimitStatus(requestLimit: requestLimit, tokenLimit: tokenLimit)
            if let limit = requestLimit, totals.requests >= limit {
                status.exceeded = "requests"
                status.retryAfter = Self.wholeSeconds(window.secondsUntilRequestFits(limit: limit, now: now))
            } else if let limit = tokenLimit, totals.tokens + tokens > limit {
                status.exceeded = "tokens"
                status.retryAfter = Self.wholeSeconds(window.secondsUntilTokensFit(tokens, limit: limit, now: now))
            } else {
                window.add(tokens: tokens, now: now)
                state.windows[key] = window
            }
            let after = window.totals(now: now)
            status.requestsRemaining = max(0, (requestLimit ?? 0) - after.requests)
            status.tokensRemaining = max(0, (tokenLimit ?? 0) - after.tokens)
            status.requestsReset = window.secondsUntilEmpty(now: now)
            status.tokensReset = status.requestsReset
            return status
        }
    }

    /// Whether this request is one of the `rate` fraction that fails, decided by a per-key
    /// counter rather than a random draw so tests can predict exactly which requests fail:
    /// the n-th request fails when ceil(n * rate) > ceil((n - 1) * rate). The first request
    /// fails, and exactly ceil(N * rate) of the first N do (rate 0.5: fail, pass, fail, pass).
    func failsAtRate(_ rate: Double, key: String) -> Bool {
        guard rate > 0 else { return false }
        if rate >= 1 { return true }
        let n = state.withLockedValue { state -> Int in
            let n = (state.faultCounters[key] ?? 0) + 1
            state.faultCounters[key] = n
            return n
        }
        // The epsilon keeps products like 10 * 0.7 = 7.000000000000001 on the right integer.
        func failures(_ count: Int) -> Double { (Double(count) * rate - 1e-9).rounded(.up) }
        return failures(n) > failures(n - 1)
    }

    /// Forgets every window and counter (`POST /_mock/reset`).
    func reset() {
        state.withLockedValue { $0 = State() }
    }

    private static func wholeSeconds(_ seconds: Double) -> Int {
        max(1, Int(seconds.rounded(.up)))
    }
}
