// The two object-valued fields of a provider entry, whose member names are chosen by users
// and so appear quoted in paths.
extension ConfigParser {
    /// `model_map`: requested model name -> upstream name, both non-empty.
    mutating func modelMap(_ value: ConfigValue?, at path: String) -> [String: String] {
        guard let members = object(value, at: path, orElse: "must be an object mapping requested model names to upstream names")
        else { return [:] }
        var map: [String: String] = [:]
        for (requested, upstream) in members.sorted(by: { $0.key < $1.key }) {
            let memberPath = ConfigPath.member(path, requested)
            if requested.isEmpty {
                problem("\(path) has an empty model name")
            } else if let name = string(upstream, at: memberPath) {
                map[requested] = name
            } else if upstream.isNull {
                problem("\(memberPath) must be a non-empty string")
            }
        }
        return map
    }

    /// Headers the gateway sets itself (credentials, framing) cannot be configured: a stale
    /// `Authorization` here would silently replace the key the pool picked.
    static let reservedHeaders: Set<String> = [
        "authorization", "x-api-key", "x-goog-api-key", "host", "content-length", "content-type",
        "transfer-encoding", "connection",
    ]

    /// `headers`: extra upstream headers, values `${NAME}`-expanded and safe to put on the wire.
    mutating func headers(_ value: ConfigValue?, at path: String) -> [String: String] {
        guard let members = object(value, at: path, orElse: "must be an object mapping header names to string values")
        else { return [:] }
        var headers: [String: String] = [:]
        for (name, value) in members.sorted(by: { $0.key < $1.key }) {
            let memberPath = ConfigPath.member(path, name)
            guard Self.isHeaderName(name) else {
                problem("\(memberPath) is not a valid header name")
                continue
            }
            guard !Self.reservedHeaders.contains(name.lowercased()) else {
                problem("\(memberPath) is set by the gateway and cannot be configured")
                continue
            }
            guard case .string(let raw) = value else {
                problem("\(memberPath) must be a string")
                continue
            }
            guard let expanded = expandEnvironment(in: raw, at: memberPath) else { continue }
            guard expanded.unicodeScalars.allSatisfy({ $0 == "\t" || ($0.value >= 0x20 && $0.value != 0x7F) }) else {
                problem("\(memberPath) must not contain line breaks or control characters")
                continue
            }
            headers[name] = expanded
        }
        return headers
    }
}
