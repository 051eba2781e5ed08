import Hummingbird

extension Router {
    /// A GET route that HEAD requests get too (monitors and load balancers probe with HEAD).
    /// Hummingbird routes HEAD apart from GET; the GET handler answers it, and NIO's encoder,
    /// which knows the request was HEAD, sends the answer's head (its Content-Length included)
    /// without the body.
    @discardableResult
    func getAndHead(
        _ path: RouterPath, use handler: @Sendable @escaping (Request, Context) async throws -> some ResponseGenerator
    ) -> Self {
        on(path, method: .get, use: handler)
        return on(path, method: .head, use: handler)
    }
}
