/// Reads a decoded JSON document into config values, collecting every problem and warning
/// instead of stopping at the first, so one run of the gateway reports all of them.
///
/// Each reader returns nil both for an absent field (JSON `null` counts as absent) and for a
/// wrong one; a wrong one has been recorded, and the final `ConfigError` discards the result,
/// so callers can simply fall back to defaults.
struct ConfigParser {
    let environment: [String: String]
    private(set) var problems: [String] = []
    private(set) var warnings: [ConfigWarning] = []

    init(environment: [String: String]) {
        self.environment = environment
    }

    mutating func problem(_ message: String) {
        problems.append(message)
    }

    mutating func warn(_ path: String, _ message: String) {
        warnings.append(ConfigWarning(path: path, message: "\(path) \(message)"))
    }

    /// Warns about each field of `object` not in `known`, suggesting a near miss; fields starting
    /// with `_` are comments (JSON has none) and are skipped silently.
    mutating func warnUnknownFields(_ object: [String: ConfigValue], in parent: String, known: [String]) {
        for field in object.keys.sorted() where !known.contains(field) && !field.hasPrefix("_") {
            let suggestion = known.min { editDistance(field, $0) < editDistance(field, $1) }
                .flatMap { editDistance(field, $0) <= 2 ? " (did you mean \($0)?)" : nil } ?? ""
            warn(ConfigPath.field(parent, field), "is not a known field and is ignored\(suggestion)")
        }
    }

    // MARK: Typed readers

    /// Whether a field is given: absent and `null` both mean "use the default".
    func isPresent(_ value: ConfigValue?) -> Bool {
        value.map { !$0.isNull } ?? false
    }

    /// A non-empty string, `${NAME}` references expanded when `expand` is set; `message`
    /// completes the problem when the value is not one.
    mutating func string(
        _ value: ConfigValue?, at path: String, expand: Bool = false,
        orElse message: String = "must be a non-empty string"
    ) -> String? {
        guard let value, !value.isNull else { return nil }
        guard case .string(let raw) = value, !raw.isEmpty else {
            problem("\(path) \(message)")
            return nil
        }
        guard expand else { return raw }
        guard let expanded = expandEnvironment(in: raw, at: path) else { return nil }
        guard !expanded.isEmpty else {
            problem("\(path) \(message)")
            return nil
        }
        return expanded
    }

    /// The largest integer a field takes. Limits and sizes are multiplied and added at run time
    /// (a day's capacity is the limit times the keys) and travel to Redis as doubles, exact only
    /// below 2^53: a bound here keeps an edit such as `max_request_day: 9223372036854775807`
    /// from trapping every replica that reloads it.
    static let maxInteger = 1_000_000_000_000

    /// An integer above zero (`15` or `15.0`; not `1.5`, `"15"` or `true`), at most `maxInteger`.
    mutating func positiveInteger(_ value: ConfigValue?, at path: String) -> Int? {
        guard let value, !value.isNull else { return nil }
        guard let int = value.integerValue, int > 0 else {
            problem("\(path) must be a positive integer")
            return nil
        }
        guard int <= Self.maxInteger else {
            problem("\(path) must be at most \(Self.maxInteger)")
            return nil
        }
        return int
    }

    /// The elements of a list, or nil after recording `problem` when `value` is not a list.
    mutating func list(_ value: ConfigValue?, at path: String, orElse message: String) -> [ConfigValue]? {
        guard let value, !value.isNull else { return nil }
        guard case .array(let elements) = value else {
            problem("\(path) \(message)")
            return nil
        }
        return elements
    }

    /// The members of an object, or nil after recording `problem` when `value` is not an object.
    mutating func object(_ value: ConfigValue?, at path: String, orElse message: String) -> [String: ConfigValue]? {
        guard let value, !value.isNull else { return nil }
        guard case .object(let members) = value else {
            problem("\(path) \(message)")
            return nil
        }
        return members
    }

    /// A list of non-empty strings; each bad element is reported at its own index.
    mutating func stringList(
        _ value: ConfigValue?, at path: String, allowEmpty: Bool, expand: Bool = false
    ) -> [String]? {
        let message = allowEmpty ? "must be a list of strings" : "must be a non-empty list of strings"
        guard let elements = list(value, at: path, orElse: message) else { return nil }
        if elements.isEmpty, !allowEmpty {
            problem("\(path) \(message)")
            return nil
        }
        var strings: [String] = []
        for (index, element) in elements.enumerated() {
            if let string = string(element, at: ConfigPath.index(path, index), expand: expand) {
                strings.append(string)
            } else if element.isNull {
                problem("\(ConfigPath.index(path, index)) must be a non-empty string")
            }
        }
        return strings.count == elements.count ? strings : nil
    }
}

/// Levenshtein distance, for "did you mean" hints on misspelt field names.
private func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, substitution)
        }
        previous = current
    }
    return previous[b.count]
}
