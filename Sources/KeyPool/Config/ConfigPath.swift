import Foundation

/// Builds the JSON paths that problems and warnings start with.
///
/// Fixed field names join with dots (`provider_keys[1].max_request_min`); user-chosen object
/// keys such as model or header names are quoted (`fallbacks["gpt-4o"][0]`) because they may
/// contain dots, colons and slashes.
enum ConfigPath {
    static func field(_ parent: String, _ name: String) -> String {
        parent.isEmpty ? name : "\(parent).\(name)"
    }

    static func index(_ parent: String, _ index: Int) -> String {
        "\(parent)[\(index)]"
    }

    static func member(_ parent: String, _ key: String) -> String {
        let escaped = key.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\(parent)[\"\(escaped)\"]"
    }
}
