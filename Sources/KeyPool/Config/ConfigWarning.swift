/// Something in a valid config that is probably a mistake, such as a misspelt field that
/// is being ignored; the gateway logs these at load and reload.
public struct ConfigWarning: Sendable, Equatable, CustomStringConvertible {
    /// JSON path of the field, e.g. `provider_keys[0].max_requests_min`.
    public let path: String
    /// The full sentence, starting with the path.
    public let message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { message }
}
