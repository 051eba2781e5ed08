/// A partial config for `PATCH /_mock/config`: fields present replace the running ones, and
/// `keys` entries are upserted one by one (`null` removes a key), so a test can change one key's
/// faults without restating the rest.
struct MockConfigPatch: Decodable, Sendable {
    var models: [String]?
    var keys: [String: KeySettings?]?
    var acceptAnyKey: Bool?
    var defaults: KeySettings?
    var faults: Faults?
    var embeddingDimensions: Int?

    enum CodingKeys: String, CodingKey {
        case models, keys
        case acceptAnyKey = "accept_any_key"
        case defaults, faults
        case embeddingDimensions = "embedding_dimensions"
    }
}

extension MockConfig {
    /// Applies a patch in place.
    mutating func apply(_ patch: MockConfigPatch) {
        if let models = patch.models { self.models = models }
        if let acceptAnyKey = patch.acceptAnyKey { self.acceptAnyKey = acceptAnyKey }
        if let defaults = patch.defaults { self.defaults = defaults }
        if let faults = patch.faults { self.faults = faults }
        if let dimensions = patch.embeddingDimensions { self.embeddingDimensions = dimensions }
        if let entries = patch.keys {
            var keys = self.keys ?? [:]
            for (key, settings) in entries {
                keys[key] = settings
            }
            self.keys = keys
        }
    }
}
