import Hummingbird

/// `POST /v1/chat/completions` (also without the `/v1` prefix, as some clients send it).
struct ChatRoutes: Sendable {
    let proxy: ChatProxy

    func register(on router: Router<GatewayContext>) {
        router.post("/v1/chat/completions") { request, context in try await proxy.handle(request, context: context) }
        router.post("/chat/completions") { request, context in try await proxy.handle(request, context: context) }
    }
}
