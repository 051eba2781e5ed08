extension ProviderConfig {
    /// Whether this entry serves `model`: it matches one of `models`, or is a key of `modelMap`
    /// (a rename is a promise to serve the requested name, so it need not be listed twice).
    public func serves(model: String) -> Bool {
        modelMap[model] != nil || models.contains { ModelGlob.matches(pattern: $0, name: model) }
    }

    /// Whether this entry names `model` itself, not through a glob: a `modelMap` key or an
    /// exact entry of `models`. Such a name is not read as `entry/model` (see `ModelRouter`).
    public func servesExactly(model: String) -> Bool {
        modelMap[model] != nil || models.contains { !$0.contains("*") && $0 == model }
    }

    /// The name to send upstream for a requested `model`: its `modelMap` entry, else unchanged.
    public func upstreamModel(for model: String) -> String {
        modelMap[model] ?? model
    }
}
