/// One `provider_keys` entry: an upstream, the models it serves, its keys and their limits.
public struct ProviderConfig: Sendable, Equatable {
    /// Unique across the config: the entry's `name`, or its `provider` when `name` is absent.
    /// Used in `name/model` requests, Redis key names, logs and `/v1/usage`.
    public var name: String
    /// The `provider` field as written; looks up the known defaults.
    public var provider: String
    public var type: ProviderType
    /// Without a trailing slash, so adapters append `/chat/completions` and the like.
    public var baseURL: String
    /// Exact model names or globs (`*` matches any run of characters, `/` included).
    public var models: [String]
    /// Requested model name -> the name sent upstream.
    public var modelMap: [String: String]
    /// Extra headers sent upstream with every request (e.g. OpenRouter's `HTTP-Referer`).
    public var headers: [String: String]
    public var keys: [ProviderKey]
    /// The same limits apply to each key of the entry.
    public var limits: KeyLimits
    /// Reserved for API flavours that version by query parameter (Azure); unused by the seed's providers.
    public var apiVersion: String?
    /// Overrides `GatewayConfig.defaultMaxTokens` for this entry when set.
    public var defaultMaxTokens: Int?

    public init(
        name: String, provider: String, type: ProviderType, baseURL: String,
        models: [String], modelMap: [String: String] = [:], headers: [String: String] = [:],
        keys: [ProviderKey], limits: KeyLimits = .unlimited,
        apiVersion: String? = nil, defaultMaxTokens: Int? = nil
    ) {
        self.name = name
        self.provider = provider
        self.type = type
        self.baseURL = baseURL
        self.models = models
        self.modelMap = modelMap
        self.headers = headers
        self.keys = keys
        self.limits = limits
        self.apiVersion = apiVersion
        self.defaultMaxTokens = defaultMaxTokens
    }
}
