import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// JSON answers of the gateway's own endpoints (not the proxied ones, which pass bytes through).
enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        // Stable output, so every replica gives the same bytes for the same state.
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
