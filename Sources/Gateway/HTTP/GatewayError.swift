import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error the client sees, in OpenAI's shape:
/// `{"error":{"message":...,"type":...,"param":...,"code":...}}`.
///
/// Messages are written here, never copied from an upstream or a lower layer, so no upstream URL
/// or key can reach a client through them.
struct GatewayError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String
    let type: String
    let param: String?
    let code: String?
    /// Extra headers: Retry-After, the gateway's attempt headers.
    var headers: HTTPFields = [:]

    init(
        _ status: HTTPResponse.Status, _ message: String, type: String, param: String? = nil,
        code: String? = nil, headers: HTTPFields = [:]
    ) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers
    }

    /// The error with every occurrence of `secret` (the key the try used) taken out of its
    /// message. The adapters pass on a provider's own error text with anything shaped like a key
    /// removed; this catches the exact key too, whatever its shape (a custom `base_url`'s).
    /// The error with each of `hidden` removed from its message (see `UpstreamErrorText.hidden`).
    func redacting(_ hidden: [String]) -> GatewayError {
        let redacted = UpstreamErrorText.redact(message, hiding: hidden)
        guard redacted != message else { return self }
        return GatewayError(status, redacted, type: type, param: param, code: code, headers: headers)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    func response() -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: json()))
    }

    /// `{"error":{...}}`, the body of the answer and of a stream's error event.
    func json() -> ByteBuffer {
        let body = ErrorBody(error: .init(message: message, type: type, param: param, code: code))
        let data = (try? JSONResponse.encoder.encode(body)) ?? Data()
        return ByteBuffer(bytes: data)
    }

    private struct ErrorBody: Encodable {
        struct Detail: Encodable {
            let message: String
            let type: String
            let param: String?
            let code: String?

            // `param` and `code` are present as null when unset, as in OpenAI's answers.
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(message, forKey: .message)
                try container.encode(type, forKey: .type)
                try container.encode(param, forKey: .param)
                try container.encode(code, forKey: .code)
            }

            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }

        let error: Detail
    }
}

extension GatewayError {
    static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil) -> GatewayError {
        GatewayError(.badRequest, message, type: "invalid_request_error", param: param, code: code)
    }

    static let missingAccessKey = GatewayError(
        .unauthorized,
        "Missing access key. Send it as 'Authorization: Bearer <access key>'.",
        type: "invalid_request_error", code: "invalid_api_key",
        headers: [.wwwAuthenticate: "Bearer"])

    static let malformedAuthorization = GatewayError(
        .unauthorized,
        "The Authorization header carries no access key. Send it as 'Authorization: Bearer <access key>' (or as 'x-api-key: <access key>').",
        type: "invalid_request_error", code: "invalid_api_key",
        headers: [.wwwAuthenticate: "Bearer"])

    static let wrongAccessKey = GatewayError(
        .unauthorized, "Incorrect access key provided.",
        type: "invalid_request_error", code: "invalid_api_key",
        headers: [.wwwAuthenticate: "Bearer"])

    static func unknownModel(_ model: String) -> GatewayError {
        GatewayError(
            .notFound, "The model '\(ClientText.echo(model))' does not exist or is not served by this gateway.",
            type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    static func bodyTooLarge(limit: Int) -> GatewayError {
        GatewayError(
            .contentTooLarge, "Request body is larger than the gateway's limit of \(limit) bytes.",
            type: "invalid_request_error", code: "request_too_large")
    }

    /// A request body sent with a Content-Encoding other than `identity`. `Accept-Encoding`
    /// says what would be taken instead (RFC 9110, 15.5.16).
    static func unsupportedContentEncoding(_ codings: String) -> GatewayError {
        GatewayError(
            .unsupportedMediaType,
            "Content-Encoding '\(ClientText.echo(codings))' is not supported for request bodies; send the body uncompressed.",
            type: "invalid_request_error", code: "unsupported_content_encoding", headers: [.acceptEncoding: "identity"])
    }

    static func notFound(_ path: String) -> GatewayError {
        GatewayError(.notFound, "Unknown request URL: \(ClientText.echo(path)).", type: "invalid_request_error", code: "unknown_url")
    }

    static func methodNotAllowed(_ method: HTTPRequest.Method, _ path: String) -> GatewayError {
        GatewayError(
            .methodNotAllowed, "Method \(method.rawValue) is not allowed on \(ClientText.echo(path)).",
            type: "invalid_request_error", code: "method_not_allowed")
    }

    static func storeUnavailable() -> GatewayError {
        GatewayError(
            .serviceUnavailable,
            "The gateway's shared usage store is unavailable; try again shortly.",
            type: "service_unavailable", code: "store_unavailable", headers: [.retryAfter: "1"])
    }

    static func internalError() -> GatewayError {
        GatewayError(.internalServerError, "The gateway failed to handle the request.", type: "server_error", code: "internal_error")
    }
}

extension GatewayError {
    /// The same error with more headers (the attempt's x-gateway-*, an upstream's Retry-After).
    func with(_ extra: HTTPFields) -> GatewayError {
        var copy = self
        copy.headers.append(contentsOf: extra)
        return copy
    }
}
