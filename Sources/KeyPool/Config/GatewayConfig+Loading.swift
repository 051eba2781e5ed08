import Foundation

extension GatewayConfig {
    /// Parses and validates config.json's bytes.
    ///
    /// - Parameter environment: resolves `${NAME}` references and `REDIS_URL`; pass
    ///   `ProcessInfo.processInfo.environment` in the gateway, a literal dictionary in tests.
    /// - Returns: the config and the warnings worth logging (ignored unknown fields and the like).
    /// - Throws: one `ConfigError` listing every problem found.
    public static func parse(
        data: Data, environment: [String: String]
    ) throws(ConfigError) -> (GatewayConfig, [ConfigWarning]) {
        let json: Any
        do {
            // Fragments allowed so `"text"` or `42` gets the clearer top-level message below.
            json = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw ConfigError(problems: ["config is not valid JSON: \(jsonErrorReason(error))"])
        }
        guard case .object(let root) = ConfigValue(json: json) else {
            throw ConfigError(problems: ["config must be a JSON object at the top level"])
        }
        var parser = ConfigParser(environment: environment)
        let config = parser.gatewayConfig(from: root, hash: hash(of: data))
        guard parser.problems.isEmpty else { throw ConfigError(problems: parser.problems) }
        return (config, parser.warnings)
    }

    /// Reads the file at `path` and parses it as `parse(data:environment:)` does.
    public static func load(
        path: String, environment: [String: String]
    ) throws(ConfigError) -> (GatewayConfig, [ConfigWarning]) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigError(problems: ["cannot read config file \(path): \(error.localizedDescription)"])
        }
        return try parse(data: data, environment: environment)
    }

    /// First 16 hex digits of the SHA-256 of `data`: enough to tell configs apart in /health.
    public static func hash(of data: Data) -> String {
        String(KeyID.hexDigest(of: data).prefix(16))
    }

    /// Foundation's own detail ("Unexpected end of file ...") when it gives one; its
    /// `localizedDescription` only says the data is not in the correct format.
    private static func jsonErrorReason(_ error: any Error) -> String {
        let nsError = error as NSError
        return (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? nsError.localizedDescription
    }
}
