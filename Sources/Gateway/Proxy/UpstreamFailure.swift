import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Turns what went wrong upstream into the client's error, without the upstream's URL or key.
enum UpstreamFailure {
    /// The upstream could not be reached or did not answer in time.
    static func transport(_ error: any Error, provider: String) -> GatewayError {
        if let error = error as? HTTPClientError, error == .deadlineExceeded || error == .readTimeout {
            return GatewayError(
                .gatewayTimeout, "The upstream provider '\(provider)' did not answer in time.",
                type: "upstream_error", code: "upstream_timeout")
        }
        return GatewayError(
            .badGateway, "The upstream provider '\(provider)' could not be reached.",
            type: "upstream_error", code: "upstream_unreachable")
    }

    /// Client errors the upstream explains; relayed with their status rather than turned into 502.
    static let relayedStatuses: Set<Int> = [400, 404, 409, 413, 422]

    /// A non-2xx answer. Client errors the upstream explains (400, 404, 409, 413, 422) go back
    /// with the upstream's own error body, scrubbed of the key; the rest become gateway errors.
    static func status(
        _ status: HTTPResponse.Status, body: ByteBuffer, headers: HTTPFields, provider: String, keyID: String, secret: String
    ) -> Response {
        switch status.code {
        case let code where relayedStatuses.contains(code):
            let text = String(buffer: body).replacingOccurrences(of: secret, with: "[redacted]")
            if let data = text.data(using: .utf8),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], object["error"] != nil
            {
                var fields = headers
                fields[.contentType] = "application/json"
                return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
            }
            return GatewayError(
                status, "The upstream provider '\(provider)' rejected the request (status \(status.code)).",
                type: "invalid_request_error", code: "upstream_rejected").with(headers).response()
        case 401, 403:
            return GatewayError(
                .badGateway, "The upstream provider '\(provider)' rejected key \(keyID) (status \(status.code)).",
                type: "upstream_error", code: "upstream_auth_failed").with(headers).response()
        case 429:
            // `headers` carries the upstream's Retry-After, when it gave one.
            return GatewayError(
                .tooManyRequests, "The upstream provider '\(provider)' is rate limiting key \(keyID).",
                type: "rate_limit_error", code: "upstream_rate_limited", headers: headers
            ).response()
        default:
            return GatewayError(
                .badGateway, "The upstream provider '\(provider)' failed (status \(status.code)).",
                type: "upstream_error", code: "upstream_error").with(headers).response()
        }
    }
}
