import Foundation
import NIOCore

/// An OpenAI `usage` object: what settle corrects the reservation to.
struct TokenUsage: Decodable, Sendable, Equatable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int

    private enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
    }

    init(promptTokens: Int, completionTokens: Int, totalTokens: Int? = nil) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens ?? promptTokens + completionTokens
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        promptTokens = try container.decodeIfPresent(Int.self, forKey: .promptTokens) ?? 0
        completionTokens = try container.decodeIfPresent(Int.self, forKey: .completionTokens) ?? 0
        totalTokens = try container.decodeIfPresent(Int.self, forKey: .totalTokens) ?? promptTokens + completionTokens
    }

    /// The `usage` of a chat completion (or chunk) body; nil when absent, null or malformed.
    /// `choices` comes along so the stream relay can tell a usage-only chunk.
    static func of(_ bytes: UnsafeRawBufferPointer) -> (usage: TokenUsage?, choices: Int?) {
        guard let parsed = try? JSONDecoder().decode(UsageCarrier.self, from: Data(bytes)) else { return (nil, nil) }
        return (parsed.usage, parsed.choices?.count)
    }

    private struct UsageCarrier: Decodable {
        let usage: TokenUsage?
        let choices: [Ignored]?
    }

    private struct Ignored: Decodable {
        init(from decoder: any Decoder) throws {}
    }
}
