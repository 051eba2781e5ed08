import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// JSON answers of the gateway's own endpoints (not the proxied ones, which pass bytes through).
enum JSONResponse {
    /// The gateway's own JSON: sorted keys, so every replica gives the same bytes for the same
    /// state (and translations are deterministic); slashes in paths and URLs left unescaped.
    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
