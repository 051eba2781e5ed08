import Foundation

/// The simulator's configuration: which keys exist, their limits and the faults to inject.
///
/// Loaded from `--config FILE`, replaced by `POST /_mock/config`, patched by `PATCH /_mock/config`.
/// Every field is optional; an empty document is a provider that accepts any key, has no limits
/// and never fails.
struct MockConfig: Codable, Sendable, Equatable {
    /// Model ids listed by `GET /v1/models` and `GET /v1beta/models`.
    var models: [String]?
    /// Keys and their settings. When non-empty, only these keys are accepted (401 otherwise)
    /// unless `acceptAnyKey` is true.
    var keys: [String: KeySettings]?
    /// Accept keys missing from `keys`, with the `defaults` limits.
    var acceptAnyKey: Bool?
    /// Limits for keys that do not set their own; its faults apply to keys not listed in `keys`.
    var defaults: KeySettings?
    /// Faults applied to every key, under the key's own faults.
    var faults: Faults?
    /// Length of embedding vectors when the request does not ask for `dimensions`.
    var embeddingDimensions: Int?

    enum CodingKeys: String, CodingKey {
        case models, keys
        case acceptAnyKey = "accept_any_key"
        case defaults, faults
        case embeddingDimensions = "embedding_dimensions"
    }

    static let defaultModels = [
        "mock-model", "gpt-4o-mini", "gpt-4o", "claude-3-5-haiku-latest", "gemini-2.0-flash",
    ]

    var modelList: [String] { models ?? Self.defaultModels }

    /// Whether a presented key may use the API.
    func accepts(_ key: String) -> Bool {
        guard let keys, !keys.isEmpty else { return true }
        return keys[key] != nil || acceptAnyKey == true
    }

    /// The requests- and tokens-per-minute limits that apply to a key.
    func limits(for key: String) -> (requests: Int?, tokens: Int?) {
        let own = keys?[key]
        return (
            own?.requestsPerMinute ?? defaults?.requestsPerMinute,
            own?.tokensPerMinute ?? defaults?.tokensPerMinute
        )
    }

    /// Global faults, then the key's own faults (the defaults' faults for keys not listed).
    func faults(for key: String) -> Faults {
        let global = faults ?? Faults()
        if let own = keys?[key] { return global.merged(with: own.faults) }
        return global.merged(with: defaults?.faults)
    }

    /// Reads and decodes a config file.
    static func load(path: String) throws -> MockConfig {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(MockConfig.self, from: data)
    }
}
