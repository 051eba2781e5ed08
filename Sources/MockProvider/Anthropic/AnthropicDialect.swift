import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Anthropic's `x-api-key`, required `anthropic-version`, error shape and
/// `anthropic-ratelimit-*` headers (reset times in RFC 3339).
struct AnthropicDialect: ProviderDialect {
    var name: String { "anthropic" }

    private enum Header {
        static let apiKey = HTTPField.Name("x-api-key")!
        static let version = HTTPField.Name("anthropic-version")!
        static let requestsLimit = HTTPField.Name("anthropic-ratelimit-requests-limit")!
        static let requestsRemaining = HTTPField.Name("anthropic-ratelimit-requests-remaining")!
        static let requestsReset = HTTPField.Name("anthropic-ratelimit-requests-reset")!
        static let tokensLimit = HTTPField.Name("anthropic-ratelimit-tokens-limit")!
        static let tokensRemaining = HTTPField.Name("anthropic-ratelimit-tokens-remaining")!
        static let tokensReset = HTTPField.Name("anthropic-ratelimit-tokens-reset")!
    }

    /// `x-api-key`, or `Authorization: Bearer`, which recent SDK releases send instead.
    func apiKey(in request: Request) -> String? {
        request.headers[Header.apiKey] ?? OpenAIDialect().apiKey(in: request)
    }

    func precheck(_ request: Request) -> ProviderError? {
        request.headers[Header.version] == nil ? .badRequest("anthropic-version: header is required") : nil
    }

    func errorBody(_ error: ProviderError) -> JSONValue {
        let type = switch error.status {
        case 400: "invalid_request_error"
        case 401: "authentication_error"
        case 403: "permission_error"
        case 404: "not_found_error"
        case 413: "request_too_large"
        case 429: "rate_limit_error"
        case 529: "overloaded_error"
        default: "api_error"
        }
        return ["type": "error", "error": ["type": .string(type), "message": .string(error.message)]]
    }

    /// `event: error` with `overloaded_error`, Anthropic's usual failure once a stream runs.
    func streamErrorEvent() -> ByteBuffer {
        SSE.event("error", errorBody(ProviderError(status: 529, message: Self.streamErrorMessage)))
    }

    func addLimitHeaders(_ limits: LimitStatus, to headers: inout HTTPFields) {
        let now = Date()
        if let limit = limits.requestLimit {
            headers[Header.requestsLimit] = String(limit)
            headers[Header.requestsRemaining] = String(limits.requestsRemaining)
            headers[Header.requestsReset] = Self.timestamp(now.addingTimeInterval(limits.requestsReset.rounded(.up)))
        }
        if let limit = limits.tokenLimit {
            headers[Header.tokensLimit] = String(limit)
            headers[Header.tokensRemaining] = String(limits.tokensRemaining)
            headers[Header.tokensReset] = Self.timestamp(now.addingTimeInterval(limits.tokensReset.rounded(.up)))
        }
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }
}
