/// A rolling 60-second window of requests and tokens in one-second buckets, the way providers
/// count "per minute" limits.
///
/// A bucket stamped with second `s` counts while `now < s + 60`; the buckets are reused in a ring,
/// so the window never allocates after it is created.
struct RateWindow: Sendable {
    static let span: Int64 = 60

    private var stamps = [Int64](repeating: .min, count: Int(span))
    private var requests = [Int](repeating: 0, count: Int(span))
    private var tokens = [Int](repeating: 0, count: Int(span))

    private func isLive(_ index: Int, now: Double) -> Bool {
        stamps[index] != .min && Double(stamps[index] + Self.span) > now
    }

    /// Requests and tokens counted in the window at `now` (seconds since the epoch).
    func totals(now: Double) -> (requests: Int, tokens: Int) {
        var r = 0
        var t = 0
        for i in 0..<stamps.count where isLive(i, now: now) {
            r += requests[i]
            t += tokens[i]
        }
        return (r, t)
    }

    mutating func add(tokens count: Int, now: Double) {
        let second = Int64(now.rounded(.down))
        let index = Int(((second % Self.span) + Self.span) % Self.span)
        if stamps[index] != second {
            stamps[index] = second
            requests[index] = 0
            tokens[index] = 0
        }
        requests[index] += 1
        tokens[index] += count
    }

    /// Live buckets, oldest first, as (expiry time, requests, tokens).
    private func liveBuckets(now: Double) -> [(expiry: Double, requests: Int, tokens: Int)] {
        (0..<stamps.count)
            .filter { isLive($0, now: now) }
            .map { (Double(stamps[$0] + Self.span), requests[$0], tokens[$0]) }
            .sorted { $0.expiry < $1.expiry }
    }

    /// Seconds until requests in the window drop below `limit`, i.e. one more request fits.
    func secondsUntilRequestFits(limit: Int, now: Double) -> Double {
        var count = totals(now: now).requests
        for bucket in liveBuckets(now: now) {
            if count < limit { break }
            count -= bucket.requests
            if count < limit { return bucket.expiry - now }
        }
        return count < limit ? 0 : Double(Self.span)
    }

    /// Seconds until `needed` more tokens fit under `limit`.
    func secondsUntilTokensFit(_ needed: Int, limit: Int, now: Double) -> Double {
        var count = totals(now: now).tokens
        if count + needed <= limit { return 0 }
        for bucket in liveBuckets(now: now) {
            count -= bucket.tokens
            if count + needed <= limit { return bucket.expiry - now }
        }
        // The request alone is larger than the limit: it never fits; say "a minute".
        return Double(Self.span)
    }

    /// Seconds until the window is empty again (what OpenAI calls the reset time).
    func secondsUntilEmpty(now: Double) -> Double {
        liveBuckets(now: now).last.map { $0.expiry - now } ?? 0
    }
}
