import Hummingbird
import NIOCore

/// Request context that keeps the connection's channel, so a stream relay can notice a client
/// that leaves and stop the upstream request.
struct GatewayContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    /// Set by `ObservabilityMiddleware` for each request; filled in by the handlers.
    var record: RequestRecord

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        self.record = RequestRecord.unattached
    }

    /// The body limit is enforced per request from the running config (`server.max_body_bytes`,
    /// see `ChatRoutes`); this only caps what Hummingbird itself would ever collect.
    var maxUploadSize: Int { Int(Int32.max) }
}
