/// One upstream API key and its public id.
///
/// Every textual form (`description`, `debugDescription`, `dump`, string interpolation) shows
/// only `key:<id>`, and the type is deliberately not `Encodable`, so a log line, an error or a
/// JSON response cannot leak the secret by accident; code that needs it reads `secret` by name.
public struct ProviderKey: Sendable, Hashable {
    /// `KeyID.of(secret)`: safe to log, return and store.
    public let id: String
    /// The key itself, sent only to the upstream.
    public let secret: String

    public init(secret: String) {
        self.id = KeyID.of(secret)
        self.secret = secret
    }
}

extension ProviderKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "key:\(id)" }
    public var debugDescription: String { "key:\(id)" }
    // Without this, `dump(key)` and reflection-based loggers would print `secret`.
    public var customMirror: Mirror { Mirror(self, children: ["id": id], displayStyle: .struct) }
}
