import NIOCore

/// Writes the OpenAI side of a translated stream: `data: {chunk}\n\n` events with one id,
/// `created` and `model`, the usage chunk when the client asked for it, and `[DONE]`.
/// Shared by the stream translators, which only decide what each chunk says.
struct OpenAIChunkWriter: Sendable {
    let model: String
    let includeUsage: Bool
    var id: String
    var created: Int
    /// Data events written, `[DONE]` excluded.
    private(set) var dataEvents = 0

    init(id: String, created: Int, model: String, includeUsage: Bool) {
        self.id = id
        self.created = created
        self.model = model
        self.includeUsage = includeUsage
    }

    mutating func write(_ choice: OpenAIChatChunk.Choice, to out: inout ByteBuffer) throws(GatewayError) {
        try write(OpenAIChatChunk(id: id, created: created, model: model, choices: [choice]), to: &out)
    }

    /// The first chunk of a choice: OpenAI's streams open with the role and empty content.
    mutating func role(index: Int, to out: inout ByteBuffer) throws(GatewayError) {
        try write(.init(index: index, delta: .init(role: "assistant", content: "")), to: &out)
    }

    mutating func content(_ text: String, index: Int, to out: inout ByteBuffer) throws(GatewayError) {
        try write(.init(index: index, delta: .init(content: text)), to: &out)
    }

    mutating func toolCall(_ call: OpenAIToolCall, index: Int, to out: inout ByteBuffer) throws(GatewayError) {
        try write(.init(index: index, delta: .init(toolCalls: [call])), to: &out)
    }

    mutating func finish(_ reason: String, index: Int, to out: inout ByteBuffer) throws(GatewayError) {
        try write(.init(index: index, delta: .init(), finishReason: reason), to: &out)
    }

    /// The end of the stream: the usage chunk (`choices: []`) when the client asked for it and
    /// the provider reported usage, then `[DONE]`.
    mutating func end(usage: TokenUsage?, cachedTokens: Int? = nil) -> ByteBuffer {
        var out = ByteBuffer()
        if includeUsage, let usage {
            let chunk = OpenAIChatChunk(
                id: id, created: created, model: model, choices: [], usage: OpenAIUsage(usage, cachedTokens: cachedTokens))
            // Encoding our own integers cannot fail; were it to, the client still gets [DONE].
            try? write(chunk, to: &out)
        }
        out.writeString("data: [DONE]\n\n")
        return out
    }

    private mutating func write(_ chunk: OpenAIChatChunk, to out: inout ByteBuffer) throws(GatewayError) {
        var json = try AdapterJSON.encode(chunk)
        out.writeString("data: ")
        out.writeBuffer(&json)
        out.writeString("\n\n")
        dataEvents += 1
    }
}
