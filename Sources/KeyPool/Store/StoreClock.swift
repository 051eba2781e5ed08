import Foundation
import Synchronization

/// Milliseconds since 1970. The Redis store reads Redis's `TIME` unless a test clock is given;
/// only tests move time, so no test has to sleep through a minute window.
public protocol StoreClock: Sendable {
    func nowMillis() -> Int64
}

public struct SystemStoreClock: StoreClock {
    public init() {}
    public func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// A clock tests set and advance by hand.
public final class ManualStoreClock: StoreClock {
    private let now: Mutex<Int64>

    public init(millis: Int64) { now = Mutex(millis) }

    public func nowMillis() -> Int64 { now.withLock { $0 } }
    public func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        now.withLock { $0 += seconds * 1000 + attoseconds / 1_000_000_000_000_000 }
    }
    public func set(millis: Int64) { now.withLock { $0 = millis } }
}

/// Calendar days in a time zone, as whole numbers, so stores can compare and expire them.
enum DayMath {
    /// The time zone's UTC offset at `seconds`, the next transition after it (0 if none within a
    /// year) and the offset after that transition: enough for Redis to place any instant of the
    /// next months in its local day without knowing time zones.
    static func offsets(_ zone: TimeZone, atSeconds seconds: Int64) -> (now: Int, transition: Int64, after: Int) {
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        let now = zone.secondsFromGMT(for: date)
        guard let next = zone.nextDaylightSavingTimeTransition(after: date) else { return (now, 0, now) }
        return (now, Int64(next.timeIntervalSince1970), zone.secondsFromGMT(for: next))
    }

    static func day(atSeconds seconds: Int64, offset: Int) -> Int64 {
        let local = seconds + Int64(offset)
        return local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
    }

    static func day(_ zone: TimeZone, atSeconds seconds: Int64) -> Int64 {
        day(atSeconds: seconds, offset: zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(seconds))))
    }

    /// Milliseconds since 1970 at which the day after `day` starts in `zone`.
    static func nextDayStartMillis(_ zone: TimeZone, day: Int64) -> Int64 {
        let approx = (day + 1) * 86_400
        let offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(approx)))
        return (approx - Int64(offset)) * 1000
    }
}
