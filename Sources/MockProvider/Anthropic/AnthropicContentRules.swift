/// What the real Messages API refuses in `messages` although it parses: the gateway must never
/// send it, so the mock refuses it too, with Anthropic's own messages (400 `invalid_request_error`).
enum AnthropicContentRules {
    static func check(_ messages: [JSON.Object]) throws {
        var toolUseIDs: Set<String> = []
        for (index, message) in messages.enumerated() {
            let isFinalAssistant = index == messages.count - 1 && message.string("role") == "assistant"
            let content = message["content"]
            if let text = content as? String {
                if text.isEmpty && !isFinalAssistant {
                    throw ProviderError.badRequest(
                        "messages.\(index): all messages must have non-empty content except for the optional final assistant message")
                }
            }
            let blocks = (content as? [Any])?.compactMap { $0 as? JSON.Object } ?? []
            for (position, block) in blocks.enumerated() {
                if block.string("type") == "text", block.string("text")?.isEmpty ?? true {
                    throw ProviderError.badRequest("messages: text content blocks must be non-empty")
                }
                if block.string("type") == "tool_use", let id = block.string("id"), !toolUseIDs.insert(id).inserted {
                    throw ProviderError.badRequest("messages.\(index).content.\(position): `tool_use` ids must be unique")
                }
            }
            // A prefill the model continues: Anthropic refuses one ending in whitespace.
            if isFinalAssistant {
                let last = (content as? String) ?? blocks.last.flatMap { $0.string("type") == "text" ? $0.string("text") : nil }
                if let last, last.last?.isWhitespace == true {
                    throw ProviderError.badRequest("final assistant content cannot end with trailing whitespace")
                }
            }
        }
    }
}
