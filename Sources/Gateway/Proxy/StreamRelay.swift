import Foundation
import NIOCore

/// Follows an OpenAI-style chat completion stream on its way to the client: notes the usage
/// chunk (which the gateway asked for to settle tokens) and drops it again when the client did
/// not ask for it. Every other event is forwarded byte for byte.
struct StreamRelay {
    /// The client asked for the usage chunk (`stream_options.include_usage`).
    let clientWantsUsage: Bool
    private var splitter = SSEEventSplitter()
    private(set) var usage: TokenUsage?
    /// Data events forwarded, `[DONE]` excluded: roughly one token each, the settle estimate for
    /// a stream that ends without a usage chunk.
    private(set) var dataEvents = 0
    private(set) var sawDone = false
    /// A chunk carried a non-null `finish_reason`: the answer is whole even if `[DONE]` never
    /// comes (some OpenAI-compatible servers end without it).
    private(set) var sawFinishReason = false
    /// The code of the upstream's own error event (`{"error": ...}`, or OpenRouter's chunk
    /// with `"finish_reason":"error"` and an `error` member): its `code`, else its `type`, else
    /// `upstream_error`. The client already has the event (a second, gateway-made error event
    /// would only confuse it); the request log and the proxy's warning need the code.
    private(set) var relayedError: String?
    /// What that error event says of the provider, when its code or type is one of the known
    /// rate-limit or server-failure ones (`rate_limit_exceeded`, `server_error`, `502`, ...).
    private(set) var relayedFailure: UpstreamFailure.Kind?

    init(clientWantsUsage: Bool) {
        self.clientWantsUsage = clientWantsUsage
    }

    /// The bytes to forward for `chunk`: its whole events, minus a usage-only chunk the client
    /// did not ask for. Empty while an event is still incomplete.
    mutating func process(_ chunk: ByteBuffer) -> ByteBuffer {
        // A chunk usually holds one event: it goes out as the slice it is, without a copy.
        var out: ByteBuffer?
        // Moved out while it works so its buffer stays uniquely referenced (no copy on write).
        var splitter = self.splitter
        self.splitter = SSEEventSplitter()
        splitter.feed(chunk) { event in
            guard forward(event) else { return }
            if out == nil {
                out = event
            } else {
                var event = event
                out!.writeBuffer(&event)
            }
        }
        self.splitter = splitter
        return out ?? ByteBuffer()
    }

    /// What is left of an upstream stream that ended mid-event.
    var remainder: ByteBuffer? { splitter.remainder }

    private static let donePayload = Array("[DONE]".utf8)
    private static let usageKey = Array(#""usage""#.utf8)
    private static let finishReasonKey = Array(#""finish_reason""#.utf8)
    private static let errorKey = Array(#""error""#.utf8)
    private static let dataPrefix = Array("data:".utf8)

    private mutating func forward(_ event: ByteBuffer) -> Bool {
        event.withUnsafeReadableBytes { bytes -> Bool in
            guard let payload = Self.dataPayload(bytes) else { return true }
            if payload.elementsEqual(Self.donePayload) {
                sawDone = true
                return true
            }
            // Only a payload whose first member is `error` is read further: content chunks
            // start with `id` or `choices`, so the hot path costs a few byte compares.
            if Self.startsWithErrorMember(payload) {
                if relayedError == nil { (relayedError, relayedFailure) = Self.errorCode(in: payload) }
                return true
            }
            dataEvents += 1
            if !sawFinishReason, let reason = Self.valueIndex(of: Self.finishReasonKey, in: payload) {
                sawFinishReason = payload[reason] == UInt8(ascii: "\"")
                // OpenRouter reports a provider's failure mid-stream as a chunk with an `error`
                // member beside `choices` and this finish reason (read only on such a chunk).
                if payload[reason...].starts(with: Self.errorKey), relayedError == nil {
                    (relayedError, relayedFailure) = Self.errorCode(in: payload)
                }
            }
            // Most chunks carry `"usage":null` (or nothing); only a real usage object is decoded.
            guard Self.valueStart(of: Self.usageKey, in: payload) == UInt8(ascii: "{") else { return true }
            let (found, hasChoices) = TokenUsage.of(UnsafeRawBufferPointer(rebasing: payload))
            guard let found else { return true }
            usage = found
            if !clientWantsUsage && hasChoices == false {
                dataEvents -= 1
                return false
            }
            return true
        }
    }

    /// The payload of the event's single `data:` line (the only form chat streams use).
    private static func dataPayload(_ bytes: UnsafeRawBufferPointer) -> Slice<UnsafeRawBufferPointer>? {
        let prefix = dataPrefix
        var start = bytes.startIndex
        // Skip comment or other field lines before the data line.
        while start < bytes.endIndex {
            let lineEnd = bytes[start...].firstIndex(of: 0x0A) ?? bytes.endIndex
            let line = bytes[start..<lineEnd]
            if line.starts(with: prefix) {
                var payloadStart = line.startIndex + prefix.count
                if payloadStart < line.endIndex, bytes[payloadStart] == 0x20 { payloadStart += 1 }
                var payloadEnd = line.endIndex
                if payloadEnd > payloadStart, bytes[payloadEnd - 1] == 0x0D { payloadEnd -= 1 }
                return bytes[payloadStart..<payloadEnd]
            }
            start = lineEnd + 1
        }
        return nil
    }

    /// The first byte of the value after the first occurrence of `key` (past the colon and any
    /// spaces), or nil when the key is absent: `"` for a string, `{` for an object, `n` for null.
    private static func valueStart(of key: [UInt8], in payload: Slice<UnsafeRawBufferPointer>) -> UInt8? {
        valueIndex(of: key, in: payload).map { payload[$0] }
    }

    /// Where that value starts.
    private static func valueIndex(of key: [UInt8], in payload: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard var index = find(key, in: payload) else { return nil }
        while index < payload.endIndex, payload[index] == 0x20 || payload[index] == UInt8(ascii: ":") { index += 1 }
        return index < payload.endIndex ? index : nil
    }

    /// Whether the payload is an object whose first member is `error` (`{"error":`, spaces
    /// allowed): how OpenAI-compatible servers send an error inside a stream.
    private static func startsWithErrorMember(_ payload: Slice<UnsafeRawBufferPointer>) -> Bool {
        var index = payload.startIndex
        func skipSpace() { while index < payload.endIndex, payload[index] == 0x20 || payload[index] == 0x09 { index += 1 } }
        skipSpace()
        guard index < payload.endIndex, payload[index] == UInt8(ascii: "{") else { return false }
        index += 1
        skipSpace()
        guard payload[index...].starts(with: errorKey) else { return false }
        index += errorKey.count
        skipSpace()
        return index < payload.endIndex && payload[index] == UInt8(ascii: ":")
    }

    /// The error member's `code` (a string or a number, as OpenRouter sends HTTP statuses),
    /// else its `type`, else `upstream_error`: what the log's `error` field says. Found with
    /// `TopLevelFields` (no values built); only the chosen strings are decoded. With it, what
    /// the code or the type says of the provider, if either is a known one
    /// (`UpstreamFailure.streamErrorKinds`).
    private static func errorCode(in payload: Slice<UnsafeRawBufferPointer>) -> (String, UpstreamFailure.Kind?) {
        let bytes = UnsafeRawBufferPointer(rebasing: payload)
        guard let error = TopLevelFields(bytes: bytes)?.field("error"),
            bytes[error.value].first == UInt8(ascii: "{")
        else { return ("upstream_error", nil) }
        let object = UnsafeRawBufferPointer(rebasing: bytes[error.value])
        guard let members = TopLevelFields(bytes: object) else { return ("upstream_error", nil) }
        var code: String?
        var kind: UpstreamFailure.Kind?
        for name in ["code", "type"] {
            guard let member = members.field(name) else { continue }
            let literal = UnsafeRawBufferPointer(rebasing: object[member.value])
            guard let text = scalarText(literal), !text.isEmpty else { continue }
            if code == nil { code = ClientText.echo(text) }
            if kind == nil { kind = UpstreamFailure.streamErrorKinds[text] }
        }
        return (code ?? "upstream_error", kind)
    }

    /// A JSON string's value, or a number's digits; nil for null (and objects or arrays).
    private static func scalarText(_ literal: UnsafeRawBufferPointer) -> String? {
        guard let first = literal.first, first != UInt8(ascii: "n"), first != UInt8(ascii: "{"), first != UInt8(ascii: "[")
        else { return nil }
        guard first == UInt8(ascii: "\"") else { return String(decoding: literal, as: UTF8.self) }
        return TopLevelFields.string(quoted: literal)
    }

    /// The index just past the first occurrence of `needle`.
    private static func find(_ needle: [UInt8], in haystack: Slice<UnsafeRawBufferPointer>) -> Int? {
        guard haystack.count >= needle.count, let first = needle.first else { return nil }
        var index = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while index <= last {
            guard let candidate = haystack[index...last].firstIndex(of: first) else { return nil }
            if haystack[candidate..<(candidate + needle.count)].elementsEqual(needle) { return candidate + needle.count }
            index = candidate + 1
        }
        return nil
    }
}

/// The OpenAI-compatible stream is already in the client's format: translating is relaying.
extension StreamRelay: ChatStreamTranslator {
    mutating func feed(_ chunk: ByteBuffer) throws(GatewayError) -> ByteBuffer { process(chunk) }

    /// The upstream sends its own `[DONE]`; nothing is added.
    mutating func finish() -> ByteBuffer { ByteBuffer() }

    var isComplete: Bool { sawDone || sawFinishReason || relayedError != nil }
}
