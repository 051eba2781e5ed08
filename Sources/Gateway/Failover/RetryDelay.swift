import Foundation
import NIOCore
import NIOHTTP1

/// How long an upstream asked us to wait, read from its answer: the first source present wins.
///
/// 1. `retry-after-ms` (OpenAI, Azure): milliseconds.
/// 2. `retry-after`: seconds, or an HTTP date.
/// 3. Per-limit reset headers, OpenAI style (`x-ratelimit-reset-requests` / `-tokens`: a
///    duration such as `1s`, `6m0s`, `20ms`) and Anthropic style
///    (`anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset`: an RFC 3339
///    time). The limits whose `remaining` header says 0 are the ones that refused, so the latest
///    of their resets is used; when none says 0, the earliest reset of any limit.
/// 4. `x-ratelimit-reset` (OpenRouter): epoch milliseconds, epoch seconds, or seconds from now.
/// 5. A Gemini error body's `RetryInfo`: `"retryDelay": "37s"`.
enum RetryDelay {
    static func millis(headers: HTTPHeaders, body: ByteBuffer?, now: Date = Date()) -> Int64? {
        if let value = headers.first(name: "retry-after-ms"), let ms = Double(value.trimmed).flatMap(millis) {
            return ms
        }
        if let value = headers.first(name: "retry-after"), let ms = retryAfter(value.trimmed, now: now) {
            return ms
        }
        if let ms = limitResets(headers, now: now) { return ms }
        if let value = headers.first(name: "x-ratelimit-reset"), let number = Double(value.trimmed), number >= 0, number.isFinite {
            let nowMillis = now.timeIntervalSince1970 * 1000
            if number > 1e12 { return millis(max(0, number - nowMillis)) }  // epoch ms
            if number > 1e9 { return millis(max(0, number * 1000 - nowMillis)) }  // epoch s
            return millis(number * 1000)
        }
        if let body, let ms = geminiRetryDelay(body) { return ms }
        return nil
    }

    /// The longest delay read: a year. Callers cap it further (`failover.max_cooldown_seconds`);
    /// this bound only keeps the conversion to `Int64` from trapping on a header such as
    /// `retry-after-ms: 1e30`, which would take the process down with every request in it.
    static let maxMillis: Double = 365 * 86_400_000

    /// `ms` as a delay: nil when negative or not a number, at most `maxMillis`.
    static func millis(_ ms: Double) -> Int64? {
        guard ms >= 0, ms.isFinite else { return nil }
        return Int64(min(ms, maxMillis))
    }

    /// `Retry-After`: delay-seconds (decimals tolerated) or an HTTP date.
    static func retryAfter(_ value: String, now: Date) -> Int64? {
        if let seconds = Double(value), let ms = millis(seconds * 1000) { return ms }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return millis(max(0, date.timeIntervalSince(now)) * 1000)
    }

    private static let openAILimits = ["requests", "tokens"]
    private static let anthropicLimits = ["requests", "tokens", "input-tokens", "output-tokens"]

    private static func limitResets(_ headers: HTTPHeaders, now: Date) -> Int64? {
        var exhausted: [Int64] = []
        var any: [Int64] = []
        func add(_ reset: Int64?, remaining: String?) {
            guard let reset else { return }
            any.append(reset)
            if remaining.map({ Double($0.trimmed) == 0 }) ?? false { exhausted.append(reset) }
        }
        for limit in openAILimits {
            add(headers.first(name: "x-ratelimit-reset-\(limit)").flatMap { duration($0.trimmed) },
                remaining: headers.first(name: "x-ratelimit-remaining-\(limit)"))
        }
        for limit in anthropicLimits {
            add(headers.first(name: "anthropic-ratelimit-\(limit)-reset").flatMap { timestamp($0.trimmed, now: now) },
                remaining: headers.first(name: "anthropic-ratelimit-\(limit)-remaining"))
        }
        return exhausted.max() ?? any.min()
    }

    /// A Go-style duration as OpenAI sends it: `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3.5s`.
    static func duration(_ text: String) -> Int64? {
        var total = 0.0
        var number = ""
        var index = text.startIndex
        var sawUnit = false
        while index < text.endIndex {
            let character = text[index]
            if character.isNumber || character == "." {
                number.append(character)
                index = text.index(after: index)
                continue
            }
            guard let value = Double(number) else { return nil }
            let rest = text[index...]
            let (unit, scale): (Int, Double) =
                rest.hasPrefix("ms") ? (2, 1) : rest.hasPrefix("h") ? (1, 3_600_000)
                : rest.hasPrefix("m") ? (1, 60_000) : rest.hasPrefix("s") ? (1, 1000) : (0, 0)
            guard unit > 0 else { return nil }
            total += value * scale
            number = ""
            sawUnit = true
            index = text.index(index, offsetBy: unit)
        }
        // A bare number is seconds.
        if !number.isEmpty {
            guard let value = Double(number), !sawUnit else { return nil }
            total += value * 1000
        }
        return sawUnit || !text.isEmpty ? millis(total) : nil
    }

    private static func timestamp(_ text: String, now: Date) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text) else { return nil }
        return millis(max(0, date.timeIntervalSince(now)) * 1000)
    }

    /// Gemini's `RetryInfo` detail in a 429 body: `"retryDelay": "37s"` (or `"0.5s"`).
    private static func geminiRetryDelay(_ body: ByteBuffer) -> Int64? {
        let text = String(buffer: body)
        guard let key = text.range(of: "\"retryDelay\"") else { return nil }
        let rest = text[key.upperBound...].drop { $0 == " " || $0 == ":" || $0 == "\n" || $0 == "\t" }
        guard rest.first == "\"", let close = rest.dropFirst().firstIndex(of: "\"") else { return nil }
        return duration(String(rest[rest.index(after: rest.startIndex)..<close]))
    }
}

extension String {
    fileprivate var trimmed: String { trimmingCharacters(in: .whitespaces) }
}
