extension ConfigParser {
    /// Where a key was seen: its path, and the upstream (lower-cased base URL) it is sent to.
    struct KeyUse {
        let path: String
        let upstream: String
    }

    /// `key`: one string or a list of them, checked and de-duplicated across the whole file
    /// without ever printing a key.
    ///
    /// One key twice for the same upstream is an error: two sets of counters would each allow
    /// the full limit, doubling real usage. The same string for different upstreams cannot be
    /// one credential (the seed's placeholders `key1`, `key2` are reused so), so it only warns.
    mutating func keys(
        _ value: ConfigValue?, at path: String, upstream: String, keyUses: inout [String: [KeyUse]]
    ) -> [ProviderKey] {
        let items: [(value: ConfigValue, path: String)]
        switch value {
        case .string(let key)?:
            items = [(.string(key), path)]
        case .array(let list)? where !list.isEmpty:
            items = list.enumerated().map { ($0.element, ConfigPath.index(path, $0.offset)) }
        default:
            problem("\(path) must be a non-empty list of strings")
            return []
        }
        var keys: [ProviderKey] = []
        for (value, path) in items {
            guard let secret = string(value, at: path, expand: true) else {
                if value.isNull { problem("\(path) must be a non-empty string") }
                continue
            }
            // A stray space or newline (common when pasting, or from `$(cat file)`) would be
            // sent upstream and fail as an invalid key far from its cause.
            guard secret.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && !$0.properties.isWhitespace })
            else {
                problem("\(path) must not contain whitespace or control characters")
                continue
            }
            let uses = keyUses[secret, default: []]
            if let earlier = uses.first(where: { $0.upstream == upstream.lowercased() }) {
                problem("\(path) duplicates \(earlier.path)")
                continue
            }
            if let earlier = uses.first {
                warn(path, "duplicates \(earlier.path), which is sent to a different upstream")
            }
            keyUses[secret, default: []].append(KeyUse(path: path, upstream: upstream.lowercased()))
            keys.append(ProviderKey(secret: secret))
        }
        return keys
    }
}
