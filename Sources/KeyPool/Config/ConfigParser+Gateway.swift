import Foundation

extension ConfigParser {
    static let topLevelFields = [
        "access_key", "access_keys", "model_usage_gap_percentage", "auto-models", "auto_models",
        "fallbacks", "redis", "daily_reset_timezone", "default_max_tokens", "server", "failover", "logging", "metrics", "provider_keys",
    ]

    /// Reads the top-level object. The result is meaningful only when `problems` stays empty.
    mutating func gatewayConfig(from root: [String: ConfigValue], hash: String) -> GatewayConfig {
        warnUnknownFields(root, in: "", known: Self.topLevelFields)
        let accessKeys = accessKeys(in: root)

        var gap = 5.0
        if let value = root["model_usage_gap_percentage"], !value.isNull {
            if let number = value.numberValue, (0...100).contains(number) {
                gap = number
            } else {
                problem("model_usage_gap_percentage must be a number from 0 to 100")
            }
        }

        // The seed spells it `auto-models`; `auto_models` matches every other field's style.
        let autoModelsField = isPresent(root["auto_models"]) ? "auto_models" : "auto-models"
        if isPresent(root["auto-models"]), isPresent(root["auto_models"]) {
            problem("auto-models and auto_models are the same setting; give only one")
        }
        let autoModels = stringList(root[autoModelsField], at: autoModelsField, allowEmpty: true) ?? []
        let fallbacks = fallbacks(root["fallbacks"])
        let redisURL = redisURL(in: root)

        var timeZone = GatewayConfig.utc
        let zoneMessage = "must be an IANA time zone name such as \"UTC\" or \"Europe/Berlin\""
        if let name = string(root["daily_reset_timezone"], at: "daily_reset_timezone", orElse: zoneMessage) {
            if let zone = TimeZone(identifier: name) {
                timeZone = zone
            } else {
                problem("daily_reset_timezone \(zoneMessage)")
            }
        }

        let defaultMaxTokens = positiveInteger(root["default_max_tokens"], at: "default_max_tokens") ?? 1024
        let server = serverConfig(root["server"])
        let failover = failoverConfig(root["failover"])
        let logging = loggingConfig(root["logging"])
        let metrics = metricsConfig(root["metrics"])
        let (providers, providersComplete) = providers(root["provider_keys"])

        // A name no entry serves would fail at request time, long after the edit; but when an
        // entry itself is broken the check would only add noise, so it waits for a clean parse.
        if providersComplete {
            let served = GatewayConfig(accessKeys: [], providers: providers)
            for (index, model) in autoModels.enumerated() where !served.isServed(model: model) {
                problem("\(ConfigPath.index(autoModelsField, index)) names a model no provider serves")
            }
            for (source, targets) in fallbacks.sorted(by: { $0.key < $1.key }) {
                for (index, model) in targets.enumerated() where !served.isServed(model: model) {
                    problem("\(ConfigPath.index(ConfigPath.member("fallbacks", source), index)) names a model no provider serves")
                }
            }
        }

        return GatewayConfig(
            accessKeys: accessKeys, usageGapPercentage: gap, autoModels: autoModels, fallbacks: fallbacks,
            redisURL: redisURL, dailyResetTimeZone: timeZone, defaultMaxTokens: defaultMaxTokens,
            providers: providers, server: server, failover: failover, logging: logging, metrics: metrics,
            hash: hash)
    }

    /// `access_key` (the seed's single key) and `access_keys`, combined; at least one in all.
    private mutating func accessKeys(in root: [String: ConfigValue]) -> [String] {
        let problemsBefore = problems.count
        var keys: [(key: String, path: String)] = []
        if let key = string(root["access_key"], at: "access_key", expand: true) {
            keys.append((key, "access_key"))
        }
        if let list = list(root["access_keys"], at: "access_keys", orElse: "must be a list of strings") {
            for (index, element) in list.enumerated() {
                let path = ConfigPath.index("access_keys", index)
                if let key = string(element, at: path, expand: true) {
                    keys.append((key, path))
                } else if element.isNull {
                    problem("\(path) must be a non-empty string")
                }
            }
        }
        // Wrong entries were reported already; "none at all" is only worth saying on its own.
        if keys.isEmpty, problems.count == problemsBefore {
            problem("access_key or access_keys must give at least one access key")
        }
        var first: [String: String] = [:]
        var unique: [String] = []
        for (key, path) in keys {
            if let earlier = first[key] {
                problem("\(path) duplicates \(earlier)")
            } else {
                first[key] = path
                unique.append(key)
                placeholderAccessKeyWarning(key, at: path)
            }
        }
        return unique
    }

    /// The seed's access key, published in the README and the example config.
    static let exampleAccessKey = "your-proxy-access-key"

    /// Warns about the published placeholder (valid, so the example runs as shipped): anyone who
    /// has read the README can spend every provider key behind a gateway that keeps it.
    private mutating func placeholderAccessKeyWarning(_ key: String, at path: String) {
        if key == Self.exampleAccessKey {
            warn(path, "is the example's published placeholder: anyone can use it to spend every provider key; replace it with 32 or more random characters (openssl rand -hex 24) before exposing the gateway")
        }
    }

    private mutating func fallbacks(_ value: ConfigValue?) -> [String: [String]] {
        guard let members = object(value, at: "fallbacks", orElse: "must be an object mapping a model name to a list of model names")
        else { return [:] }
        var fallbacks: [String: [String]] = [:]
        for (source, targets) in members.sorted(by: { $0.key < $1.key }) {
            let path = ConfigPath.member("fallbacks", source)
            if source.isEmpty {
                problem("fallbacks has an empty model name")
            } else if targets.isNull {
                problem("\(path) must be a non-empty list of strings")
            } else if let list = stringList(targets, at: path, allowEmpty: false) {
                fallbacks[source] = list
            }
        }
        return fallbacks
    }

    /// `redis` when present, else a non-empty `REDIS_URL`: the file is the more specific
    /// choice, while the variable lets one image point at different Redis servers.
    private mutating func redisURL(in root: [String: ConfigValue]) -> String? {
        let message = "must be a redis:// or unix:// URL"
        let url: String?
        let path: String
        if let value = root["redis"], !value.isNull {
            path = "redis"
            url = string(value, at: path, expand: true, orElse: message)
        } else if let value = environment["REDIS_URL"], !value.isEmpty {
            path = "REDIS_URL (environment)"
            url = value
        } else {
            return nil
        }
        guard let url else { return nil }
        let lower = url.lowercased()
        guard ["redis://", "unix://", "redis+unix://"].contains(where: { lower.hasPrefix($0) }) else {
            problem("\(path) \(message)")
            return nil
        }
        // Parsed in full here, as the client will at start-up, so `--check-config` and a reload
        // refuse what the gateway could not start with (a port out of range, ?pool=99 ...).
        if let reason = RedisConfiguration.problem(with: url) {
            problem("\(path) \(reason)")
            return nil
        }
        return url
    }
}
