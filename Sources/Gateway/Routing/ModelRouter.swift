import KeyPool

/// One way to serve a request: a provider entry and the model name to send it.
struct RouteCandidate: Sendable {
    let provider: ProviderConfig
    let pool: KeyPoolDescriptor
    /// The model as the client will see it in `x-gateway-model` (after auto-model resolution).
    let model: String
    /// The name sent upstream (after the entry's renames and `provider/` prefix removal).
    let upstreamModel: String
}

/// Resolves a requested model to the ordered candidates that may serve it.
///
/// - `auto-model`: each model of `auto-models` in order, each resolved as below.
/// - `name/model` with `name` an entry's name: that entry, with `model` sent upstream, unless
///   an entry lists the full string exactly (in `models` or `model_map`). Naming an entry beats
///   globs: OpenRouter's default `*/*` would otherwise take `gemini/gemini-1.5-pro` and send
///   that full string to OpenRouter.
/// - any other name: every entry serving it, in config order, then its configured fallbacks.
struct ModelRouter: Sendable {
    static let autoModel = "auto-model"

    private let config: GatewayConfig
    private let pools: [String: KeyPoolDescriptor]

    init(config: GatewayConfig) {
        self.config = config
        var pools: [String: KeyPoolDescriptor] = [:]
        for provider in config.providers { pools[provider.name] = KeyPoolDescriptor(provider, in: config) }
        self.pools = pools
    }

    func pool(for provider: ProviderConfig) -> KeyPoolDescriptor {
        pools[provider.name] ?? KeyPoolDescriptor(provider, in: config)
    }

    /// Empty when nothing serves `model` (a 404 for the client).
    func candidates(for model: String) -> [RouteCandidate] {
        if model == Self.autoModel {
            return config.autoModels.flatMap { direct($0) }
        }
        var result = direct(model)
        for fallback in config.fallbacks[model] ?? [] where fallback != model {
            result += direct(fallback)
        }
        return result
    }

    private func direct(_ model: String) -> [RouteCandidate] {
        let serving = config.providers.filter { $0.serves(model: model) }
        if !serving.contains(where: { $0.servesExactly(model: model) }), let (provider, rest) = pinned(model) {
            return [candidate(provider, model: model, upstream: provider.upstreamModel(for: rest))]
        }
        return serving.map { candidate($0, model: model, upstream: $0.upstreamModel(for: model)) }
    }

    /// The entry a `name/model` request names, and the model after the prefix.
    private func pinned(_ model: String) -> (ProviderConfig, String)? {
        guard let slash = model.firstIndex(of: "/") else { return nil }
        let name = String(model[..<slash]), rest = String(model[model.index(after: slash)...])
        guard !rest.isEmpty, let provider = config.provider(named: name) else { return nil }
        return (provider, rest)
    }

    private func candidate(_ provider: ProviderConfig, model: String, upstream: String) -> RouteCandidate {
        RouteCandidate(provider: provider, pool: pool(for: provider), model: model, upstreamModel: upstream)
    }

    /// Every model name `GET /v1/models` lists: exact names of every entry (globs cannot be
    /// listed), renamed names, the auto-models and `auto-model` itself, each once, with its owner.
    func listedModels() -> [(id: String, owner: String)] {
        var seen = Set<String>()
        var result: [(String, String)] = []
        func add(_ id: String, _ owner: String) {
            if seen.insert(id).inserted { result.append((id, owner)) }
        }
        for provider in config.providers {
            for model in provider.models where !model.contains("*") { add(model, provider.name) }
            for model in provider.modelMap.keys.sorted() { add(model, provider.name) }
        }
        for model in config.autoModels {
            if let owner = direct(model).first?.provider.name { add(model, owner) }
        }
        if !config.autoModels.isEmpty { add(Self.autoModel, "llm-gateway") }
        return result
    }
}
