import Foundation
import HTTPTypes
import NIOCore

/// OpenAI chat completions over Anthropic's Messages API (`POST /v1/messages`).
///
/// Request members (see `AnthropicRequest` for how messages are laid out):
/// - translated: `model` (replaced by the entry's upstream model), `messages`, `max_tokens` /
///   `max_completion_tokens` (Anthropic requires one: else `defaultMaxTokens`), `temperature`
///   (0...1 only, Anthropic's range), `top_p`, `stop` → `stop_sequences`, `stream`, `tools`,
///   `tool_choice`, `parallel_tool_calls: false` → `tool_choice.disable_parallel_tool_use`;
/// - dropped: `user`, `seed`, `presence_penalty`, `frequency_penalty` (Anthropic has none of
///   them), `logit_bias`, `service_tier`, `stream_options` (used by the stream translator),
///   `metadata`, `store`, `prompt_cache_key`, `safety_identifier`; in messages, `name`, and a
///   tool's `strict`;
/// - refused (400 naming the member): `n` > 1, `logprobs: true`, `top_logprobs`,
///   `response_format` other than text (Anthropic has no JSON mode), `audio`, `modalities` other
///   than `["text"]`, `prediction`, `reasoning_effort`, `verbosity`, `web_search_options`,
///   legacy `functions` / `function_call`, and any member not listed here; in messages, role
///   `function`, assistant `function_call` / `audio`, content parts other than text and
///   image_url (images in user messages only).
struct AnthropicAdapter: ProviderAdapter {
    static let apiVersion = "2023-06-01"

    static let policy = FieldPolicy(
        translated: [
            "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "stream", "tools",
            "tool_choice", "parallel_tool_calls",
        ],
        dropped: FieldPolicy.commonDropped.union(["seed", "presence_penalty", "frequency_penalty"]))

    /// Seconds since 1970 for `created`; tests fix it.
    var now: @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }

    func request(
        _ body: ByteBuffer, summary: ChatRequestSummary, upstreamModel: String, defaultMaxTokens: Int
    ) throws(GatewayError) -> UpstreamRequest {
        let openAI = try OpenAIChatRequest(body)
        try Self.policy.check(openAI)
        let request = try AnthropicRequest(
            openAI, model: upstreamModel, maxTokens: summary.maxTokens ?? defaultMaxTokens, stream: summary.stream)
        return UpstreamRequest(
            path: "/v1/messages", keyHeader: "x-api-key",
            apiHeaders: [("anthropic-version", Self.apiVersion), ("content-type", "application/json")],
            body: try AdapterJSON.encode(request))
    }

    func response(_ body: ByteBuffer, model: String) throws(GatewayError) -> (body: ByteBuffer, usage: TokenUsage?) {
        guard let message = AdapterJSON.decode(AnthropicResponse.self, from: body) else {
            throw UpstreamErrorText.unreadable("anthropic")
        }
        return (try AdapterJSON.encode(message.completion(model: model, created: now())), message.usage?.tokenUsage)
    }

    func streamTranslator(model: String, includeUsage: Bool) -> any ChatStreamTranslator {
        AnthropicStreamTranslator(model: model, includeUsage: includeUsage, created: now())
    }

    /// `{"type":"error","error":{"type":"not_found_error","message":"model: x"}}` → the message,
    /// OpenAI's type for the status, and Anthropic's error type as the code.
    func error(status: HTTPResponse.Status, body: ByteBuffer) -> GatewayError {
        let detail = AdapterJSON.decode(AnthropicErrorBody.self, from: body)?.error
        let message = detail?.message.map(UpstreamErrorText.scrub)
            ?? "The upstream provider 'anthropic' answered with status \(status.code)."
        return GatewayError(status, message, type: UpstreamErrorText.type(for: status), code: detail?.type)
    }
}
