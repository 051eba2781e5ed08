import Foundation
import HTTPTypes
import NIOCore

/// OpenAI chat completions over Gemini's Generative Language API
/// (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`).
///
/// Request members (see `GeminiRequest` for how messages are laid out):
/// - translated: `model` (the entry's upstream model goes in the path), `messages`,
///   `temperature`, `top_p` → `topP`, `max_completion_tokens` / `max_tokens` →
///   `maxOutputTokens` (omitted when neither is set; `defaultMaxTokens` is not needed), `stop` →
///   `stopSequences`, `n` → `candidateCount`, `response_format` (json_object →
///   `responseMimeType`, json_schema → also `responseJsonSchema`), `stream` (picks the method),
///   `tools` → `functionDeclarations`, `tool_choice` → `toolConfig.functionCallingConfig`,
///   `seed`, `presence_penalty` → `presencePenalty`, `frequency_penalty` → `frequencyPenalty`;
/// - dropped: `user`, `logit_bias`, `parallel_tool_calls` (Gemini has no such switch), `service_tier`, `stream_options` (used by the stream translator),
///   `metadata`, `store`, `prompt_cache_key`, `safety_identifier`; in messages, `name`, and a
///   tool's `strict`;
/// - refused (400 naming the member): `logprobs: true`, `top_logprobs`, `audio`, `modalities`
///   other than `["text"]`, `prediction`, `reasoning_effort`, `verbosity`,
///   `web_search_options`, legacy `functions` / `function_call`, and any member not listed
///   here; in messages, role `function`, assistant `function_call` / `audio`, content parts
///   other than text and image_url, image URLs that are not base64 data URLs (Gemini reads
///   remote files only through its Files API), and tool messages whose `tool_call_id` matches
///   no earlier tool call (Gemini needs the function's name).
struct GeminiAdapter: ProviderAdapter {
    static let policy = FieldPolicy(
        translated: [
            "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "n",
            "response_format", "stream", "tools", "tool_choice", "seed", "presence_penalty", "frequency_penalty",
        ],
        dropped: FieldPolicy.commonDropped.union(["parallel_tool_calls"]))

    /// Seconds since 1970 for `created`; tests fix it.
    var now: @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }
    /// The start of an answer's tool call ids, new for every answer; tests fix it.
    var callIDPrefix: @Sendable () -> String = { GeminiToolCallID.randomPrefix() }

    func request(
        _ body: ByteBuffer, summary: ChatRequestSummary, upstreamModel: String, defaultMaxTokens: Int
    ) throws(GatewayError) -> UpstreamRequest {
        let openAI = try OpenAIChatRequest(body)
        try Self.policy.check(openAI)
        let request = try GeminiRequest(openAI, model: upstreamModel, maxTokens: summary.maxTokens)
        let method = summary.stream ? "streamGenerateContent?alt=sse" : "generateContent"
        return UpstreamRequest(
            path: "/v1beta/models/\(Self.pathSegment(upstreamModel)):\(method)",
            keyHeader: "x-goog-api-key", apiHeaders: [("content-type", "application/json")],
            body: try AdapterJSON.encode(request))
    }

    /// The model as one path segment. Model globs (`gemini-*`) match any text a client sends,
    /// so `/`, `?`, `#` or `%` in it must not reach the URL as they are: they could point the
    /// request, with the entry's key, at another endpoint.
    static func pathSegment(_ model: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return model.addingPercentEncoding(withAllowedCharacters: allowed) ?? model
    }

    func response(_ body: ByteBuffer, model: String) throws(GatewayError) -> (body: ByteBuffer, usage: TokenUsage?) {
        guard let answer = AdapterJSON.decode(GeminiResponse.self, from: body), answer.error == nil,
            answer.candidates != nil || answer.promptFeedback != nil
        else {
            throw UpstreamErrorText.unreadable("gemini")
        }
        return (try AdapterJSON.encode(answer.completion(model: model, created: now(), callIDPrefix: callIDPrefix())), answer.usageMetadata?.tokenUsage)
    }

    func streamTranslator(model: String, includeUsage: Bool) -> any ChatStreamTranslator {
        GeminiStreamTranslator(model: model, includeUsage: includeUsage, created: now(), callIDPrefix: callIDPrefix())
    }

    /// `{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}` (or the
    /// same in a one-element array, as non-SSE streams send it) → the message, OpenAI's type for
    /// the status, and Gemini's status as the code.
    func error(status: HTTPResponse.Status, body: ByteBuffer) -> GatewayError {
        let detail = AdapterJSON.decode(GeminiErrorBody.self, from: body)?.error
            ?? AdapterJSON.decode([GeminiErrorBody].self, from: body)?.first?.error
        let message = detail?.message.map(UpstreamErrorText.scrub)
            ?? "The upstream provider 'gemini' answered with status \(status.code)."
        return GatewayError(status, message, type: UpstreamErrorText.type(for: status), code: detail?.status)
    }
}
