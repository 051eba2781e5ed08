import Foundation

/// What the real Generative Language API refuses in `contents` although it parses, refused with
/// Google's own messages (400 `INVALID_ARGUMENT`), and the thought signatures Gemini 3 models
/// hand out and require back.
enum GeminiContentRules {
    /// Models that sign their function calls: Gemini 3 and later. Older ones neither send nor
    /// check signatures.
    static func signsFunctionCalls(_ model: String) -> Bool {
        let name = model.lowercased()
        guard name.hasPrefix("gemini-"), let generation = name.dropFirst("gemini-".count).first else { return false }
        return generation.isNumber && generation != "1" && generation != "2"
    }

    /// The signature the mock puts on a function call part (opaque bytes, base64 as in JSON).
    static func signature(for name: String) -> String {
        Data("mock-signature:\(name)".utf8).base64EncodedString()
    }

    static func check(_ body: JSON.Object, model: String) throws {
        let contents = body.objects("contents")
        let texts = (contents + [body.object("systemInstruction") ?? [:]]).flatMap { $0.objects("parts") }.compactMap { $0["text"] }
        if texts.contains(where: { ($0 as? String)?.isEmpty ?? false }) {
            throw ProviderError.badRequest(
                "Unable to submit request because it has an empty text parameter. Add a value to the parameter and try again. "
                    + "Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini")
        }
        guard signsFunctionCalls(model) else { return }
        // Gemini 3 checks the current turn (since the last user text): the first functionCall
        // part of each model step must carry its signature.
        let turnStart = contents.lastIndex { content in
            (content.string("role") ?? "user") == "user" && content.objects("parts").contains { $0["text"] != nil }
        } ?? 0
        for content in contents[turnStart...] where content.string("role") == "model" {
            guard let first = content.objects("parts").first(where: { $0.object("functionCall") != nil }) else { continue }
            if (first.string("thoughtSignature") ?? "").isEmpty {
                let name = first.object("functionCall")?.string("name") ?? ""
                throw ProviderError.badRequest(
                    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
                        + "correctly, and missing thought_signature may lead to degraded model performance. Additional data, "
                        + "function call `default_api:\(name)`. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures "
                        + "for more details.")
            }
        }
    }
}
