import Foundation
import Hummingbird
import KeyPool

/// `GET /v1/usage`: every provider's keys as the shared store sees them. Needs an access key.
struct UsageRoutes: Sendable {
    let state: GatewayState

    func register(on router: Router<GatewayContext>) {
        router.getAndHead("/v1/usage") { request, context -> Response in
            let running = state.current
            try running.accessKeys.authorize(request.headers, record: context.record)
            let usage: [ProviderUsage]
            do {
                usage = try await state.store.snapshot(running.pools)
            } catch is StoreUnavailableError {
                throw GatewayError.storeUnavailable()
            }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            return try JSONResponse.make(UsageReport(usage, providers: running.config.providers, nowMillis: now))
        }
    }
}
