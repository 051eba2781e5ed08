import Foundation
import HTTPTypes
import Hummingbird
import KeyPool
import NIOCore

/// `GET /metrics`: Prometheus' text format. Open unless `metrics.bearer_token` is set (then
/// that token, not an access key, is required); 404 when `metrics.enabled` is false.
///
/// Each scrape also reads the key pool from the store (one round trip) to set `gateway_keys`,
/// so every replica reports the same shared picture; if the store is away the gauges keep their
/// last values and the scrape still answers.
struct MetricsRoutes: Sendable {
    let state: GatewayState

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    func register(on router: Router<GatewayContext>) {
        router.getAndHead("/metrics") { request, _ -> Response in
            let running = state.current
            guard running.config.metrics.enabled else { throw GatewayError.notFound(request.uri.path) }
            if let token = running.metricsToken {
                guard let presented = AccessKeys.presentedKey(request.headers) else { throw GatewayError.missingMetricsToken }
                guard token.matches(presented) else { throw GatewayError.wrongMetricsToken }
            }
            if let usage = try? await state.store.snapshot(running.pools) {
                let report = UsageReport(usage, providers: running.config.providers, nowMillis: Int64(Date().timeIntervalSince1970 * 1000))
                for (provider, detail) in report.details {
                    var counts = ["active": 0, "limited": 0, "cooling_down": 0, "disabled": 0]
                    for key in detail.keys.values { counts[key.status, default: 0] += 1 }
                    for (status, count) in counts { state.metrics.keys(provider: provider, status: status, count: count) }
                }
            }
            state.metrics.syncDroppedLogLines(LogWriter.standardOutput.droppedLines)
            let text = state.metrics.exposition()
            return Response(
                status: .ok, headers: [.contentType: Self.contentType],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
        }
    }
}

extension GatewayError {
    static let missingMetricsToken = GatewayError(
        .unauthorized, "Missing metrics token. Send it as 'Authorization: Bearer <metrics.bearer_token>'.",
        type: "invalid_request_error", code: "invalid_api_key", headers: [.wwwAuthenticate: "Bearer"])

    static let wrongMetricsToken = GatewayError(
        .unauthorized, "Incorrect metrics token provided.",
        type: "invalid_request_error", code: "invalid_api_key", headers: [.wwwAuthenticate: "Bearer"])
}
