import HTTPTypes

/// The headers on every proxied answer, errors included once a key was tried.
enum ProxyHeaders {
    static let provider = HTTPField.Name("x-gateway-provider")!
    static let model = HTTPField.Name("x-gateway-model")!
    static let keyID = HTTPField.Name("x-gateway-key-id")!
    static let attempts = HTTPField.Name("x-gateway-attempts")!
    /// Tells nginx not to buffer a stream it proxies.
    static let accelBuffering = HTTPField.Name("x-accel-buffering")!

    static func make(provider: String, model: String, keyID: String?, attempts: Int) -> HTTPFields {
        var fields = HTTPFields()
        fields[self.provider] = provider
        fields[self.model] = model
        if let keyID { fields[self.keyID] = keyID }
        fields[self.attempts] = String(attempts)
        return fields
    }
}
