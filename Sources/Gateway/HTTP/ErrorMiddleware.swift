import Hummingbird
import Logging

/// Gives every error the client can see OpenAI's shape: unknown routes (404), known routes with
/// the wrong method (405, with `Allow`), and anything unexpected (500, logged, never described to
/// the client). `GET` routes serve `HEAD` too (`Router.getAndHead`), so their `Allow` lists both.
/// Added before the routes, so it wraps each of them and the router's not-found responder.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The gateway's paths (a trailing `/` matches any path below it) and the method each
    /// serves, for 405 against 404.
    let routes: [(path: String, method: HTTPRequest.Method)]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as GatewayError {
            throw error
        } catch let error as HTTPError {
            let path = request.uri.path
            if error.status == .notFound {
                guard let allowed = method(of: path) else { throw GatewayError.notFound(path) }
                throw GatewayError.methodNotAllowed(request.method, path)
                    .with([.allow: allowed == .get ? "GET, HEAD" : allowed.rawValue])
            }
            if error.status == .contentTooLarge {
                throw GatewayError(.contentTooLarge, "Request body is too large.", type: "invalid_request_error", code: "request_too_large")
            }
            // Hummingbird's own errors (bad request framing and the like) carry no secret.
            throw GatewayError(error.status, error.body ?? error.status.reasonPhrase, type: "invalid_request_error")
        } catch is CancellationError {
            // The forced stop at the end of a shutdown drain cancels the requests still running.
            throw GatewayError(
                .serviceUnavailable, "The gateway is shutting down and its drain time ran out before the request finished.",
                type: "server_error", code: "gateway_shutting_down")
        } catch {
            context.logger.error("unhandled error: \(String(reflecting: type(of: error)))")
            throw GatewayError.internalError()
        }
    }

    /// The method a known path serves; nil for an unknown path.
    private func method(of path: String) -> HTTPRequest.Method? {
        routes.first { route in
            route.path.hasSuffix("/") ? path.hasPrefix(route.path) && path.count > route.path.count : path == route.path
        }?.method
    }
}
