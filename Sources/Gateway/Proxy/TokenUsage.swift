import Foundation
import KeyPool
import NIOCore

/// An OpenAI `usage` object: what settle corrects the reservation to.
struct TokenUsage: Decodable, Sendable, Equatable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int

    private enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens"
    }

    /// The counts within `TokenCount`'s bounds: they come from the upstream, and a sum of two
    /// near `Int.max` would trap (and take the process down with every request in it).
    init(promptTokens: Int, completionTokens: Int, totalTokens: Int? = nil) {
        self.promptTokens = TokenCount.clamped(promptTokens)
        self.completionTokens = TokenCount.clamped(completionTokens)
        self.totalTokens = TokenCount.clamped(totalTokens ?? TokenCount.sum(promptTokens, completionTokens))
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            promptTokens: try container.decodeIfPresent(Int.self, forKey: .promptTokens) ?? 0,
            completionTokens: try container.decodeIfPresent(Int.self, forKey: .completionTokens) ?? 0,
            totalTokens: try container.decodeIfPresent(Int.self, forKey: .totalTokens))
    }

    /// The `usage` of a chat completion (or chunk) body; nil when absent, null or malformed.
    /// `hasChoices` comes along so the stream relay can tell a usage-only chunk (`"choices":[]`).
    ///
    /// No JSON decoding: `TopLevelFields` finds the `usage` member of the answer and then the
    /// three counts inside it, each read with `Int.init` (so a count must be a plain integer).
    /// Decoding the answer with `JSONDecoder` was the largest item of the gateway's own code in
    /// the profile, and even decoding the small `usage` object alone cost most of that (its
    /// fixed cost per call); see docs/benchmarks.md. The answer is forwarded as it came.
    static func of(_ bytes: UnsafeRawBufferPointer) -> (usage: TokenUsage?, hasChoices: Bool?) {
        guard let fields = TopLevelFields(bytes: bytes) else { return (nil, nil) }
        var usage: TokenUsage?
        if let member = fields.field("usage"), !member.value.isEmpty, bytes[member.value.lowerBound] == UInt8(ascii: "{") {
            usage = Self(object: UnsafeRawBufferPointer(rebasing: bytes[member.value]))
        }
        var hasChoices: Bool?
        if let member = fields.field("choices"), !member.value.isEmpty, bytes[member.value.lowerBound] == UInt8(ascii: "[") {
            let inside = bytes[(member.value.lowerBound + 1)..<member.value.upperBound]
            hasChoices = inside.contains { ![0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: "]")].contains($0) }
        }
        return (usage, hasChoices)
    }

    /// A usage object's counts; nil when it is not an object or a count is not a non-negative
    /// integer. Absent counts are 0 (the total: their sum), as `init(from:)` reads them.
    init?(object bytes: UnsafeRawBufferPointer) {
        guard let members = TopLevelFields(bytes: bytes) else { return nil }
        struct Malformed: Error {}
        /// The count, nil when absent or null; throws when it is anything but a plain integer.
        func count(_ name: String) throws -> Int? {
            guard let member = members.field(name) else { return nil }
            let literal = UnsafeRawBufferPointer(rebasing: bytes[member.value])
            if literal.elementsEqual("null".utf8) { return nil }
            guard literal.first != UInt8(ascii: "+"), let value = Int(String(decoding: literal, as: UTF8.self)), value >= 0
            else { throw Malformed() }
            return value
        }
        do {
            self.init(
                promptTokens: try count("prompt_tokens") ?? 0, completionTokens: try count("completion_tokens") ?? 0,
                totalTokens: try count("total_tokens"))
        } catch {
            return nil
        }
    }
}
