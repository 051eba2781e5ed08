import Foundation

/// The OpenAI tool call ids of Gemini function calls. Gemini gives a call no id, and Gemini 3
/// signs its calls (`thoughtSignature` on the part; on the first call of a parallel batch only)
/// and refuses the next request when the signature does not come back on that functionCall part
/// (400 "Function call is missing a thought_signature in functionCall parts").
/// OpenAI clients hand back nothing but the id, so the signature travels in it, as LiteLLM does
/// (`<id>__thought__<signature>`), but in base64url without padding: the id must also suit
/// Anthropic (`^[a-zA-Z0-9_-]+$`) when auto-model moves the conversation there.
enum GeminiToolCallID {
    static let separator = "__thought__"

    /// Google's documented stand-in for a signature that was never there (history written by
    /// another provider or an older model): "skip_thought_signature_validator" as the bytes field's
    /// base64 (ai.google.dev/gemini-api/docs/thought-signatures, FAQs; LiteLLM sends the same).
    static let fallbackSignature = "c2tpcF90aG91Z2h0X3NpZ25hdHVyZV92YWxpZGF0b3I="

    /// A prefix unique to one answer (`call_` and 24 random letters and digits): Anthropic refuses
    /// repeated tool_use ids, so ids must not repeat across the turns of a conversation.
    static func randomPrefix() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return "call_" + String((0..<24).map { _ in alphabet.randomElement()! })
    }

    /// The ids of one answer's calls: `prefix` numbered from 0 through the whole answer (every
    /// candidate; a stream's events one after another).
    struct Numbering {
        let prefix: String
        private var next = 0

        init(prefix: String) { self.prefix = prefix }

        /// The next call's id, carrying its part's `signature`.
        mutating func id(signature: String?) -> String {
            defer { next += 1 }
            return GeminiToolCallID.make(prefix: prefix, number: next, signature: signature)
        }
    }

    /// The id of the `number`th call of an answer whose ids start with `prefix`.
    private static func make(prefix: String, number: Int, signature: String?) -> String {
        let id = "\(prefix)_\(number)"
        guard let signature, !signature.isEmpty else { return id }
        let url = signature.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return id + separator + url
    }

    /// The signature a `make` id carries, back in standard base64; nil for any other id.
    static func signature(in id: String) -> String? {
        guard let range = id.range(of: separator) else { return nil }
        var signature = id[range.upperBound...].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !signature.isEmpty else { return nil }
        signature += String(repeating: "=", count: (4 - signature.count % 4) % 4)
        return signature
    }

    /// Gemini 3 and later check signatures; 1.x and 2.x neither need nor check them, so the
    /// fallback goes only to the others (`gemini-3-pro-preview`, `gemini-flash-latest`).
    static func needsSignatures(_ model: String) -> Bool {
        let name = model.lowercased()
        guard name.hasPrefix("gemini-") else { return false }
        return !name.hasPrefix("gemini-1") && !name.hasPrefix("gemini-2")
    }
}
