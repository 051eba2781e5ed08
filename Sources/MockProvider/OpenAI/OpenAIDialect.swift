import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// OpenAI's key header, error shape and `x-ratelimit-*` headers.
struct OpenAIDialect: ProviderDialect {
    var name: String { "openai" }

    private enum Header {
        static let limitRequests = HTTPField.Name("x-ratelimit-limit-requests")!
        static let remainingRequests = HTTPField.Name("x-ratelimit-remaining-requests")!
        static let resetRequests = HTTPField.Name("x-ratelimit-reset-requests")!
        static let limitTokens = HTTPField.Name("x-ratelimit-limit-tokens")!
        static let remainingTokens = HTTPField.Name("x-ratelimit-remaining-tokens")!
        static let resetTokens = HTTPField.Name("x-ratelimit-reset-tokens")!
    }

    func apiKey(in request: Request) -> String? {
        guard let value = request.headers[.authorization] else { return nil }
        let prefix = "Bearer "
        guard value.count > prefix.count, value.lowercased().hasPrefix("bearer ") else { return nil }
        return String(value.dropFirst(prefix.count))
    }

    func errorBody(_ error: ProviderError) -> JSONValue {
        let (type, code): (JSONValue, JSONValue) = switch error.status {
        case 400: ("invalid_request_error", nil)
        case 401: ("invalid_request_error", "invalid_api_key")
        case 403: ("permission_error", nil)
        case 404: ("invalid_request_error", "model_not_found")
        case 429: (.string(error.limits?.exceeded ?? "requests"), "rate_limit_exceeded")
        default: ("server_error", nil)
        }
        return ["error": ["message": .string(error.message), "type": type, "param": nil, "code": code]]
    }

    /// `data: {"error":{...}}`, as OpenAI-compatible servers end a stream that failed; with a
    /// `code`, so a client can tell it from the `type`.
    func streamErrorEvent() -> ByteBuffer {
        SSE.data(["error": [
            "message": .string(Self.streamErrorMessage), "type": "server_error", "param": nil, "code": "stream_error",
        ]])
    }

    func addLimitHeaders(_ limits: LimitStatus, to headers: inout HTTPFields) {
        if let limit = limits.requestLimit {
            headers[Header.limitRequests] = String(limit)
            headers[Header.remainingRequests] = String(limits.requestsRemaining)
            headers[Header.resetRequests] = Self.duration(limits.requestsReset)
        }
        if let limit = limits.tokenLimit {
            headers[Header.limitTokens] = String(limit)
            headers[Header.remainingTokens] = String(limits.tokensRemaining)
            headers[Header.resetTokens] = Self.duration(limits.tokensReset)
        }
    }

    /// OpenAI writes reset times as Go-style durations ("6s", "1.5s", "0s"); whole milliseconds.
    static func duration(_ seconds: Double) -> String {
        let ms = Int((seconds * 1000).rounded(.up))
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        var text = String(format: "%.3f", Double(ms) / 1000)
        while text.hasSuffix("0") { text.removeLast() }
        return text + "s"
    }
}
