// Keys print as `key:<id>` on their own; these keep a whole entry safe to log as well: header
// values may carry credentials of custom upstreams, so only header names are shown.
extension ProviderConfig: CustomStringConvertible, CustomReflectable {
    public var description: String {
        "ProviderConfig(name: \(name), provider: \(provider), type: \(type), baseURL: \(baseURL), "
            + "models: \(models), modelMap: \(modelMap), headers: \(headers.keys.sorted()), "
            + "keys: \(keys.map(\.description)), limits: \(limits))"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["description": description], displayStyle: .struct)
    }
}
