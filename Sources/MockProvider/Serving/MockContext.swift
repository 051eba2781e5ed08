import Hummingbird
import NIOCore

/// Request context that keeps the connection's channel, so a hanging answer can tell when the
/// client has given up and stop waiting.
struct MockContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// Request bodies of chat requests with long histories can be large.
    var maxUploadSize: Int { 32 * 1024 * 1024 }
}
