import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A non-2xx upstream answer that no other key would change: the client's own request is at
/// fault (400, 404, 409, 413, 422 go back with the upstream's error body, scrubbed of the key and
/// of the upstream's address),
/// or the status is one the gateway cannot act on (502 for the client).
enum UpstreamRejection {
    /// Client errors the upstream explains; relayed with their status.
    static let relayedStatuses: Set<Int> = [400, 404, 409, 413, 422]

    static func response(
        _ status: HTTPResponse.Status, body: ByteBuffer, headers: HTTPFields, provider: String, hidden: [String]
    ) -> Response {
        guard relayedStatuses.contains(status.code) else {
            return GatewayError(
                .badGateway, "The upstream provider '\(provider)' answered with status \(status.code).",
                type: "upstream_error", code: "upstream_error").with(headers).response()
        }
        let text = UpstreamErrorText.redact(String(buffer: body), hiding: hidden)
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
    }
}
