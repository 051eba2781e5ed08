import Foundation
import Hummingbird
import KeyPool

/// `GET /health`: liveness with the running config's hash and the store's status.
struct HealthRoutes: Sendable {
    let state: GatewayState

    func register(on router: Router<some RequestContext>) {
        router.get("/health") { _, _ -> Response in
            var store: [String: Any] = ["type": state.redis == nil ? "memory" : "redis"]
            var status = "ok"
            if let redis = state.redis {
                if redis.isConnected {
                    store["status"] = "ok"
                } else {
                    // Fail-open serves on per-replica windows while Redis is away.
                    status = "degraded"
                    store["status"] = "unavailable"
                    store["error"] = redis.lastError?.description ?? "connecting"
                }
            } else {
                store["status"] = "ok"
            }
            let body: [String: Any] = [
                "status": status,
                "config_hash": state.config.hash,
                "store": store,
            ]
            let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: data))
            )
        }
    }
}
