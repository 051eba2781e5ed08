import Foundation
import KeyPool
import Logging

/// swift-log handler writing one line per message, as JSON (the default: what log collectors
/// parse) or as text, with the level and format read from `LogSettings` at each call.
///
/// JSON lines are `{"ts":...,"level":...,"logger":...,"msg":..., <metadata>}`; metadata values
/// that are numbers or booleans stay numbers and booleans. Nothing here looks at what is logged:
/// keeping secrets out is the callers' rule (they log key ids, never keys).
struct GatewayLogHandler: LogHandler {
    let label: String
    let settings: LogSettings
    let writer: LogWriter
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, settings: LogSettings, writer: LogWriter = .standardOutput, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.settings = settings
        self.writer = writer
        self.metadataProvider = metadataProvider
    }

    /// The running config's level; setting it is ignored (set `logging.level` or `--log-level`).
    var logLevel: Logger.Level {
        get { settings.current.level }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // The event's metadata wins over the provider's, which wins over the handler's (swift-log's
        // order). Starting from the event's (a request line's sixteen fields) and adding the few
        // others saves copying the large dictionary into a small one.
        var merged = event.metadata ?? [:]
        if let provided = metadataProvider?.get() { merged.merge(provided) { current, _ in current } }
        if !metadata.isEmpty { merged.merge(metadata) { current, _ in current } }
        let line: [UInt8]
        switch settings.current.format {
        case .json: line = Self.jsonLine(level: event.level, label: label, message: "\(event.message)", metadata: merged)
        case .text: line = Self.textLine(level: event.level, label: label, message: "\(event.message)", metadata: merged)
        }
        writer.write(line)
    }

    // MARK: Formatting

    /// Keys of the JSON line written before the metadata, in this order.
    static let fixedKeys: Set<String> = ["ts", "level", "logger", "msg"]

    static func jsonLine(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, now: Date = Date()) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(contentsOf: #"{"ts":""#.utf8)
        Timestamp.append(now, to: &out)
        out.append(contentsOf: #"","level":""#.utf8)
        out.append(contentsOf: level.rawValue.utf8)
        out.append(contentsOf: #"","logger":"#.utf8)
        JSONText.appendString(label, to: &out)
        out.append(contentsOf: #","msg":"#.utf8)
        JSONText.appendString(message, to: &out)
        // Sorted, so lines diff and grep the same way every time.
        for key in metadata.keys.sorted() where !fixedKeys.contains(key) {
            out.append(UInt8(ascii: ","))
            JSONText.appendString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            appendValue(metadata[key]!, to: &out)
        }
        out.append(contentsOf: "}\n".utf8)
        return out
    }

    static func textLine(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, now: Date = Date()) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        Timestamp.append(now, to: &out)
        out.append(contentsOf: " \(level.rawValue) \(label): \(message)".utf8)
        for key in metadata.keys.sorted() {
            out.append(contentsOf: " \(key)=\(metadata[key]!)".utf8)
        }
        out.append(UInt8(ascii: "\n"))
        return out
    }

    private static func appendValue(_ value: Logger.Metadata.Value, to out: inout [UInt8]) {
        switch value {
        case .string(let string):
            JSONText.appendString(string, to: &out)
        case .stringConvertible(let convertible):
            switch convertible {
            case let bool as Bool: out.append(contentsOf: (bool ? "true" : "false").utf8)
            case let int as Int: out.append(contentsOf: String(int).utf8)
            case let int as Int64: out.append(contentsOf: String(int).utf8)
            case let double as Double where double.isFinite: out.append(contentsOf: JSONText.number(double).utf8)
            case let raw as JSONText.Raw: out.append(contentsOf: raw.json.utf8)
            default: JSONText.appendString(convertible.description, to: &out)
            }
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendValue(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let members):
            out.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONText.appendString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                appendValue(members[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}

/// RFC 3339 UTC with milliseconds (`2026-11-23T10:04:05.123Z`), without a formatter object.
enum Timestamp {
    static func append(_ date: Date, to out: inout [UInt8]) {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(millis / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) {
            out.append(UInt8(ascii: "0") + UInt8(value / 10))
            out.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        let year = Int(parts.tm_year) + 1900
        out.append(contentsOf: String(year).utf8)
        out.append(UInt8(ascii: "-")); two(parts.tm_mon + 1)
        out.append(UInt8(ascii: "-")); two(parts.tm_mday)
        out.append(UInt8(ascii: "T")); two(parts.tm_hour)
        out.append(UInt8(ascii: ":")); two(parts.tm_min)
        out.append(UInt8(ascii: ":")); two(parts.tm_sec)
        let fraction = Int(millis % 1000)
        out.append(UInt8(ascii: "."))
        out.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        out.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(fraction % 10))
        out.append(UInt8(ascii: "Z"))
    }
}
