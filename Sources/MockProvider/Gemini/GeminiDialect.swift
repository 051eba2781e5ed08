import HTTPTypes
import Hummingbird
import NIOCore

/// Gemini's key (`x-goog-api-key` or `?key=`) and Google's error shape. Gemini sends no
/// rate-limit headers; a 429 carries `Retry-After` and a RetryInfo detail in the body.
struct GeminiDialect: ProviderDialect {
    var name: String { "gemini" }

    private static let apiKeyHeader = HTTPField.Name("x-goog-api-key")!

    func apiKey(in request: Request) -> String? {
        request.headers[Self.apiKeyHeader] ?? request.uri.queryParameters.get("key")
    }

    func errorBody(_ error: ProviderError) -> JSONValue {
        let status = switch error.status {
        case 400: "INVALID_ARGUMENT"
        case 401: "UNAUTHENTICATED"
        case 403: "PERMISSION_DENIED"
        case 404: "NOT_FOUND"
        case 429: "RESOURCE_EXHAUSTED"
        case 501: "UNIMPLEMENTED"
        case 503, 529: "UNAVAILABLE"
        case 504: "DEADLINE_EXCEEDED"
        default: "INTERNAL"
        }
        var body: [String: JSONValue] = ["code": .int(error.status), "message": .string(error.message), "status": .string(status)]
        if let retryAfter = error.retryAfter {
            body["details"] = [["@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": .string("\(retryAfter)s")]]
        } else if let reason = error.reason {
            body["details"] = [[
                "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": .string(reason),
                "domain": "googleapis.com", "metadata": ["service": "generativelanguage.googleapis.com"],
            ]]
        }
        return ["error": .object(body)]
    }

    /// As the real API answers a wrong, expired or deleted key: 400 `INVALID_ARGUMENT` with an
    /// `ErrorInfo` detail whose reason is `API_KEY_INVALID` (not a 401).
    func invalidKey() -> ProviderError {
        ProviderError(
            status: 400, message: "API key not valid. Please pass a valid API key. (mock-provider)", reason: "API_KEY_INVALID")
    }

    /// `data: {"error":{"code":500,...,"status":"INTERNAL"}}`, as `alt=sse` streams report one
    /// (CRLF-framed, like Gemini's other events).
    func streamErrorEvent() -> ByteBuffer {
        SSE.data(errorBody(ProviderError(status: 500, message: Self.streamErrorMessage)), lineEnd: "\r\n")
    }

    func addLimitHeaders(_ limits: LimitStatus, to headers: inout HTTPFields) {}
}
