import Foundation
import KeyPool
import NIOCore

/// Makes a request or answer body fit for a log line (`logging.bodies`): the values of the
/// configured JSON members replaced, every access key and provider key of the running config
/// removed wherever it appears, then cut to `logging.max_body_bytes`.
struct BodyRedactor: Sendable {
    static let marker = "[redacted]"

    private let fields: Set<String>
    /// Longest first, so a key that contains another is removed whole.
    private let secrets: [String]
    let maxBytes: Int

    init(_ config: GatewayConfig) {
        fields = Set(config.logging.redactFields.map { $0.lowercased() })
        let all = config.accessKeys + config.providers.flatMap { $0.keys.map(\.secret) }
        secrets = Array(Set(all.filter { !$0.isEmpty })).sorted { $0.count > $1.count }
        maxBytes = config.logging.maxBodyBytes
    }

    func text(_ body: ByteBuffer) -> String {
        var text = String(buffer: body)
        if !fields.isEmpty, let data = text.data(using: .utf8),
            let parsed = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
            let encoded = try? JSONSerialization.data(
                withJSONObject: redacted(parsed), options: [.fragmentsAllowed, .withoutEscapingSlashes, .sortedKeys])
        {
            text = String(decoding: encoded, as: UTF8.self)
        }
        text = scrubbed(text)
        guard text.utf8.count > maxBytes else { return text }
        // Cut on a character boundary, after the secrets are gone (a cut first could leave a
        // key's first half behind).
        var cut = text.utf8.prefix(maxBytes)
        while !cut.isEmpty, String(cut) == nil { cut = cut.dropLast() }
        return (String(cut) ?? "") + "...[truncated]"
    }

    /// Every secret of the running config, removed from `text`.
    func scrubbed(_ text: String) -> String {
        var text = text
        for secret in secrets where text.contains(secret) {
            text = text.replacingOccurrences(of: secret, with: Self.marker)
        }
        return text
    }

    private func redacted(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            var copy: [String: Any] = [:]
            for (key, member) in object {
                copy[key] = fields.contains(key.lowercased()) ? Self.marker : redacted(member)
            }
            return copy
        }
        if let array = value as? [Any] { return array.map(redacted) }
        return value
    }
}
