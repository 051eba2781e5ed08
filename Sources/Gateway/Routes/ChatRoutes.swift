import Hummingbird

/// `POST /v1/chat/completions` (also without the `/v1` prefix, as some clients send it).
struct ChatRoutes: Sendable {
    let proxy: ChatProxy

    func register(on router: Router<GatewayContext>) {
        router.post("/v1/chat/completions") { request, context in try await handle(request, context: context) }
        router.post("/chat/completions") { request, context in try await handle(request, context: context) }
    }

    /// A request on a connection whose task runs on its event loop (`GatewayHTTP1Channel`) is
    /// handled there while the replica is lightly loaded: no thread hand-off on the way to
    /// Redis, the provider and back. With more requests in flight than the loops, it is handed
    /// to Swift's pool, where JSON work does not hold up the loop's other connections.
    private func handle(_ request: Request, context: GatewayContext) async throws -> Response {
        if context.channel.eventLoop.inEventLoop, proxy.state.drain.requestsInFlight > GatewayHTTP1Channel.loopLimit {
            return try await withTaskExecutorPreference(globalConcurrentExecutor) {
                try await proxy.handle(request, context: context)
            }
        }
        return try await proxy.handle(request, context: context)
    }
}
