import Hummingbird
import NIOCore

/// Request context that keeps the connection's channel, so a stream relay can notice a client
/// that leaves and stop the upstream request.
struct GatewayContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// The body limit is enforced per request from the running config (`server.max_body_bytes`,
    /// see `ChatRoutes`); this only caps what Hummingbird itself would ever collect.
    var maxUploadSize: Int { Int(Int32.max) }
}
