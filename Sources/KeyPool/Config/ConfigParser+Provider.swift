import Foundation

extension ConfigParser {
    static let providerFields = [
        "provider", "name", "type", "base_url", "models", "model_map", "headers", "key",
        "max_request_min", "max_token_min", "max_request_day", "max_token_day", "api_version",
        "default_max_tokens",
    ]

    /// `provider_keys`: every entry, plus whether all of them were valid.
    mutating func providers(_ value: ConfigValue?) -> (providers: [ProviderConfig], complete: Bool) {
        let message = "must be a non-empty list of provider entries"
        guard let entries = list(value, at: "provider_keys", orElse: message), !entries.isEmpty else {
            if value.map({ $0 == .null || $0 == .array([]) }) ?? true { problem("provider_keys \(message)") }
            return ([], false)
        }
        var providers: [ProviderConfig] = []
        // Secret -> where it was used, so a duplicate is reported by paths alone.
        var keyUses: [String: [KeyUse]] = [:]
        var namePaths: [String: String] = [:]
        for (index, entry) in entries.enumerated() {
            let path = ConfigPath.index("provider_keys", index)
            guard case .object(let members) = entry else {
                problem("\(path) must be an object")
                continue
            }
            guard let provider = provider(members, at: path, keyUses: &keyUses) else { continue }
            // Names key Redis state and `name/model` requests, so two entries may not share one.
            if let earlier = namePaths[provider.name] {
                problem("\(path) has the same name \"\(provider.name)\" as \(earlier); give one of them a distinct \"name\"")
                continue
            }
            namePaths[provider.name] = path
            providers.append(provider)
        }
        return (providers, providers.count == entries.count)
    }

    /// One entry, or nil when it has any problem (all of them recorded).
    private mutating func provider(
        _ entry: [String: ConfigValue], at path: String, keyUses: inout [String: [KeyUse]]
    ) -> ProviderConfig? {
        let problemsBefore = problems.count
        warnUnknownFields(entry, in: path, known: Self.providerFields)
        func at(_ field: String) -> String { ConfigPath.field(path, field) }

        let provider = string(entry["provider"], at: at("provider"))
        if entry["provider"]?.isNull ?? true {
            problem("\(at("provider")) must be a non-empty string")
        }
        let explicitName = string(entry["name"], at: at("name"))
        let name = explicitName ?? provider
        if let name, !Self.isValidName(name) {
            problem("\(at(explicitName == nil ? "provider" : "name")) may contain only letters, digits, '.', '_' and '-'")
        }

        let known = provider.flatMap(KnownProvider.named)
        let typeMessage = "must be one of \(ProviderType.allCases.map(\.rawValue).joined(separator: ", "))"
        var type = known?.type
        if let raw = string(entry["type"], at: at("type"), orElse: typeMessage) {
            type = ProviderType(rawValue: raw)
            if type == nil { problem("\(at("type")) \(typeMessage)") }
        }
        var baseURL = known?.baseURL
        if let raw = string(entry["base_url"], at: at("base_url"), expand: true, orElse: "must be an http or https URL") {
            switch Self.checkedBaseURL(raw) {
            case .success(let url): baseURL = url
            case .failure(let rule):
                baseURL = nil
                problem("\(at("base_url")) \(rule.message)")
            }
        }
        if provider != nil, known == nil, !isPresent(entry["type"]) || !isPresent(entry["base_url"]) {
            let names = KnownProvider.all.map(\.name).joined(separator: ", ")
            problem("\(at("provider")) is not a known provider (\(names)); give its type and base_url")
        }

        var models = known?.models ?? []
        if isPresent(entry["models"]) {
            models = stringList(entry["models"], at: at("models"), allowEmpty: false) ?? []
        }
        let modelMap = modelMap(entry["model_map"], at: at("model_map"))
        let headers = headers(entry["headers"], at: at("headers"))
        let keys = keys(entry["key"], at: at("key"), upstream: baseURL ?? "", keyUses: &keyUses)
        let limits = KeyLimits(
            requestsPerMinute: positiveInteger(entry["max_request_min"], at: at("max_request_min")),
            tokensPerMinute: positiveInteger(entry["max_token_min"], at: at("max_token_min")),
            requestsPerDay: positiveInteger(entry["max_request_day"], at: at("max_request_day")),
            tokensPerDay: positiveInteger(entry["max_token_day"], at: at("max_token_day")))
        let apiVersion = string(entry["api_version"], at: at("api_version"))
        let defaultMaxTokens = positiveInteger(entry["default_max_tokens"], at: at("default_max_tokens"))

        guard problems.count == problemsBefore, let provider, let name, let type, let baseURL else { return nil }
        if models.isEmpty, modelMap.isEmpty {
            warn(path, "(\(name)) lists no models and \(provider) has no default ones; it serves only requests naming it as \(name)/<model>")
        }
        return ProviderConfig(
            name: name, provider: provider, type: type, baseURL: baseURL, models: models, modelMap: modelMap,
            headers: headers, keys: keys, limits: limits, apiVersion: apiVersion, defaultMaxTokens: defaultMaxTokens)
    }

    /// Entry names appear in `name/model` requests and inside Redis hash tags (`{name}`), so
    /// they keep to a plain alphabet.
    static func isValidName(_ name: String) -> Bool {
        name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    /// RFC 9110 token characters.
    static func isHeaderName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy {
            $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "!#$%&'*+-.^_`|~".unicodeScalars.contains($0))
        }
    }

    /// Why a `base_url` is refused. The messages never repeat the value: it may hold a secret.
    enum BaseURLRule: Error, Equatable {
        case notHTTP
        case credentials
        case queryOrFragment

        var message: String {
            switch self {
            case .notHTTP: "must be an http or https URL"
            // The upstream client would drop them silently (requests go out unauthenticated),
            // and the URL is printed where a provider entry is described.
            case .credentials: "must not contain credentials (user:password@); send them in `headers`"
            // The endpoint's path is appended to base_url, which would land inside the query.
            case .queryOrFragment: "must not have a query (?...) or fragment (#...): the endpoint's path is appended to it"
            }
        }
    }

    /// `raw` (an absolute http(s) URL with a host) without trailing slashes, or the rule it breaks.
    static func checkedBaseURL(_ raw: String) -> Result<String, BaseURLRule> {
        guard let components = URLComponents(string: raw),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty
        else { return .failure(.notHTTP) }
        if components.user != nil || components.password != nil { return .failure(.credentials) }
        if components.query != nil || components.fragment != nil { return .failure(.queryOrFragment) }
        var url = raw
        while url.hasSuffix("/") { url.removeLast() }
        return .success(url)
    }
}
