/// The bounds on the token count of one request that every store applies to what it is given.
///
/// A client's `max_tokens` and an upstream's `usage.total_tokens` are unchecked integers, and the
/// Redis buckets hold `tokens * 2^20 + requests` in a Lua number (a double: exact below 2^53), so
/// without a bound one request could corrupt a key's window or fail a whole batch of scripts.
/// 2^24 (16.7 M tokens) is above any model's context, and still leaves room for 512 requests of
/// that size in one key's second.
public enum TokenCount {
    public static let maxPerRequest = 1 << 24

    /// `tokens` within 0...`maxPerRequest`.
    public static func clamped(_ tokens: Int) -> Int {
        min(max(tokens, 0), maxPerRequest)
    }

    /// `a + b` within 0...`maxPerRequest`, without overflow whatever the two are.
    public static func sum(_ a: Int, _ b: Int) -> Int {
        clamped(clamped(a) + clamped(b))
    }
}
