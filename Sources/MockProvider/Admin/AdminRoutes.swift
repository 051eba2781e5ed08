import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/_mock/*`: what tests use to read what the provider saw and to change its behaviour at
/// runtime. Unauthenticated on purpose: mock-provider is a test tool bound to loopback.
enum AdminRoutes {
    static func add(to router: Router<MockContext>, simulator: Simulator) {
        router.get("/_mock/stats") { _, _ in
            json(simulator.stats.json)
        }
        router.post("/_mock/reset") { _, _ in
            simulator.stats.reset()
            simulator.limiter.reset()
            return json(["status": "reset"])
        }
        router.get("/_mock/health") { _, _ in
            json(["status": "ok"])
        }
        router.get("/_mock/config") { _, _ in
            try encode(simulator.config.current)
        }
        // Replaces the whole config.
        router.post("/_mock/config") { request, context in
            let config = try await decode(MockConfig.self, from: request, context: context)
            simulator.config.replace(with: config)
            return try encode(config)
        }
        // Merges a partial config (see MockConfigPatch).
        router.patch("/_mock/config") { request, context in
            let patch = try await decode(MockConfigPatch.self, from: request, context: context)
            return try encode(simulator.config.apply(patch))
        }
    }

    private static func json(_ value: JSONValue) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: JSON.buffer(value)))
    }

    private static func encode(_ config: MockConfig) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(config)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: MockContext) async throws -> T {
        let body = try await request.body.collect(upTo: context.maxUploadSize)
        do {
            return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, message: "Invalid config: \(error)")
        }
    }
}
