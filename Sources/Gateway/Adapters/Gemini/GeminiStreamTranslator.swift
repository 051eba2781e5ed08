import HTTPTypes
import NIOCore

/// Turns a `streamGenerateContent?alt=sse` stream (`data: {GenerateContentResponse}` events)
/// into OpenAI chunks.
///
/// Each candidate is a choice: its first event brings the role chunk; its text parts become
/// `delta.content`; each `functionCall` part (Gemini sends them whole) becomes one complete tool
/// call delta (id, name, all arguments), numbered from 0 per choice, its id from `GeminiToolCallID`
/// (numbered through the stream, the part's signature in it); a `finishReason` brings the
/// finish chunk. `usageMetadata` (the last one counts) is the usage. A blocked prompt
/// (`promptFeedback.blockReason`, no candidates) ends choice 0 with `content_filter`.
/// An `error` event throws (502, `upstream_error`, code = Gemini's status).
struct GeminiStreamTranslator: SSEStreamTranslator {
    private struct Choice {
        var toolCalls = 0
        var finished = false
    }

    private var writer: OpenAIChunkWriter
    var splitter = SSEEventSplitter()
    private var identified = false
    private var choices: [Int: Choice] = [:]
    private var usageMetadata: GeminiResponse.UsageMetadata?
    private var callIDs: GeminiToolCallID.Numbering

    init(model: String, includeUsage: Bool, created: Int, callIDPrefix: String) {
        callIDs = GeminiToolCallID.Numbering(prefix: callIDPrefix)
        writer = OpenAIChunkWriter(id: "chatcmpl-gemini-\(created)", created: created, model: model, includeUsage: includeUsage)
    }

    var usage: TokenUsage? { usageMetadata?.tokenUsage }

    var dataEvents: Int { writer.dataEvents }

    /// Every choice that started has its finish reason (Gemini's last event carries them).
    var isComplete: Bool { !choices.isEmpty && choices.values.allSatisfy(\.finished) }

    mutating func finish() -> ByteBuffer {
        writer.end(usage: usage, cachedTokens: usageMetadata?.cachedContentTokenCount)
    }

    mutating func handle(_ event: SSEEvent, to out: inout ByteBuffer) throws(GatewayError) {
        guard let data = event.data else { return }
        guard let response = AdapterJSON.decode(GeminiResponse.self, from: Array(data.utf8)) else {
            throw SSEEvent.malformed("gemini")
        }
        if let error = response.error {
            throw GatewayError(
                .badGateway, UpstreamErrorText.scrub(error.message ?? "The upstream provider 'gemini' failed."),
                type: "upstream_error", code: error.status ?? "upstream_error")
        }
        // Every event repeats the responseId; the first one names the stream.
        if !identified {
            identified = true
            if let id = response.responseId { writer.id = "chatcmpl-\(id)" }
        }
        if let metadata = response.usageMetadata { usageMetadata = metadata }
        let candidates = response.candidates ?? []
        if candidates.isEmpty, response.promptFeedback?.blockReason != nil {
            try start(0, &out)
            try end(0, reason: "content_filter", &out)
            return
        }
        for (position, candidate) in candidates.enumerated() {
            let index = candidate.index ?? position
            try start(index, &out)
            let parts = (candidate.content?.parts ?? []).filter { $0.thought != true }
            let text = parts.compactMap(\.text).joined()
            if !text.isEmpty { try writer.content(text, index: index, to: &out) }
            for part in parts {
                guard let call = part.functionCall else { continue }
                let number = choices[index]?.toolCalls ?? 0
                choices[index]?.toolCalls = number + 1
                let delta = OpenAIToolCall(
                    index: number, id: callIDs.id(signature: part.thoughtSignature), type: "function",
                    function: .init(name: call.name, arguments: GeminiResponse.arguments(call)))
                try writer.toolCall(delta, index: index, to: &out)
            }
            if let reason = candidate.finishReason {
                let hasToolCalls = (choices[index]?.toolCalls ?? 0) > 0
                try end(index, reason: GeminiResponse.finishReason(reason, hasToolCalls: hasToolCalls), &out)
            }
        }
    }

    /// The role chunk, once per choice, before anything else of it.
    private mutating func start(_ index: Int, _ out: inout ByteBuffer) throws(GatewayError) {
        guard choices[index] == nil else { return }
        choices[index] = Choice()
        try writer.role(index: index, to: &out)
    }

    private mutating func end(_ index: Int, reason: String, _ out: inout ByteBuffer) throws(GatewayError) {
        guard choices[index]?.finished == false else { return }
        choices[index]?.finished = true
        try writer.finish(reason, index: index, to: &out)
    }
}
