/// The deterministic reply to a `ChatRequest`.
struct Answer: Sendable {
    enum Content: Sendable {
        case text(String)
        case toolCall(ToolSpec)
    }

    enum Finish: Sendable {
        case stop
        /// The text was cut at max tokens.
        case length
        case toolCall
    }

    var content: Content
    var finish: Finish
    var promptTokens: Int
    var completionTokens: Int

    var totalTokens: Int { promptTokens + completionTokens }

    /// The text that is streamed piece by piece: the reply, or the tool call's arguments.
    var streamedText: String {
        switch content {
        case .text(let text): return text
        case .toolCall(let tool): return tool.argumentsJSON
        }
    }
}
