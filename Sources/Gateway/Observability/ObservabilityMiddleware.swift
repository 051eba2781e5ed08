import HTTPTypes
import Hummingbird
import KeyPool
import Logging

/// The outermost middleware: gives each request its id (`x-request-id`, the client's or a new
/// one) and its record, turns errors into answers so that every answer carries the id, and
/// writes the request's log line and its metrics once the answer is complete: a whole answer
/// when it is handed to the server, a stream when its last byte is written.
struct ObservabilityMiddleware: RouterMiddleware {
    typealias Context = GatewayContext

    static let requestIDHeader = HTTPField.Name("x-request-id")!
    /// Probes and scrapes: logged at debug level, so a load balancer does not fill the log.
    static let quietPaths: Set<String> = ["/health", "/ready", "/metrics"]

    let state: GatewayState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let id = RequestID.accepted(request.headers[Self.requestIDHeader]) ?? RequestID.make()
        var context = context
        context.record = RequestRecord(id: id)
        context.logger[metadataKey: "hb.request.id"] = nil
        context.logger[metadataKey: "request_id"] = .string(id)
        let record = context.record
        let metrics = state.metrics
        metrics.requestStarted()
        state.drain.requestStarted()

        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as GatewayError {
            record.update { $0.error = $0.error ?? error.code ?? error.type }
            response = error.response()
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        } catch {
            // ErrorMiddleware maps everything; this is the last line of defence.
            context.logger.error("unhandled error: \(String(reflecting: type(of: error)))")
            response = GatewayError.internalError().response()
        }
        response.headers[Self.requestIDHeader] = id

        let finished = Finished(
            state: state, record: record, logger: context.logger, method: request.method.rawValue,
            path: request.uri.path, status: response.status.code)
        guard response.body.contentLength == nil else {
            // An answer of known length is one buffer here (the gateway builds such answers
            // whole), which Hummingbird writes with its head in a single flush: reported now.
            // Wrapping it in a closure would cost that flush (head, body and end written apart).
            // A client already gone (its connection reset while the provider worked) will not
            // get it: said so, as for a stream (the status stays what the gateway answered).
            if !context.channel.isActive { record.update { $0.error = $0.error ?? "client_disconnected" } }
            finished.report()
            return response
        }
        // A stream: reported once its last byte is written, or when Hummingbird drops it
        // unwritten because the client left before its head could be sent.
        let body = response.body
        response.body = UnwrittenBody.body(abandoned: {
            record.update { $0.error = $0.error ?? "client_disconnected" }
            finished.report()
        }) { writer in
            do {
                try await body.write(writer)
            } catch {
                finished.report()
                throw error
            }
            finished.report()
        }
        return response
    }

    /// What the log line and metrics need once the answer is out.
    private struct Finished: Sendable {
        let state: GatewayState
        let record: RequestRecord
        let logger: Logger
        let method: String
        let path: String
        let status: Int

        func report() {
            let seconds = record.elapsedSeconds
            let fields = record.snapshot
            let provider = fields.provider ?? ""
            let model = fields.model ?? ""
            let endpoint = Self.endpoint(path)
            state.metrics.requestFinished(endpoint: endpoint, provider: provider, model: model, status: status, seconds: seconds)
            state.drain.requestFinished()

            let logging = state.current.config.logging
            guard logging.requests else { return }
            let level: Logger.Level = Self.quiet(endpoint) ? .debug : .info
            guard logger.logLevel <= level else { return }
            func milliseconds(_ seconds: Double?) -> Logger.MetadataValue {
                seconds.map { .stringConvertible(($0 * 1_000_000).rounded() / 1000) } ?? Self.null
            }
            func text(_ value: String?) -> Logger.MetadataValue { value.map { .string($0) } ?? Self.null }
            func number(_ value: Int?) -> Logger.MetadataValue { value.map { .stringConvertible($0) } ?? Self.null }
            var metadata: Logger.Metadata = [
                "access_key_id": text(fields.accessKeyID),
                "method": .string(method),
                "endpoint": .string(path),
                "status": .stringConvertible(status),
                "model_requested": text(fields.modelRequested),
                "model": text(model.isEmpty ? nil : model),
                "provider": text(provider.isEmpty ? nil : provider),
                "key_id": text(fields.keyID),
                "stream": .stringConvertible(fields.stream),
                "attempts": .stringConvertible(fields.attempts),
                "total_ms": milliseconds(seconds),
                "upstream_ms": milliseconds(fields.upstreamSeconds),
                "ttft_ms": milliseconds(fields.timeToFirstTokenSeconds),
                "tokens_in": number(fields.tokensIn),
                "tokens_out": number(fields.tokensOut),
                "error": text(fields.error ?? (status >= 400 ? "http_\(status)" : nil)),
            ]
            if logging.bodies {
                metadata["request_body"] = text(fields.requestBody)
                metadata["response_body"] = text(fields.responseBody)
            }
            logger.log(level: level, "request", metadata: metadata)
        }

        static let null = Logger.MetadataValue.stringConvertible(JSONText.Raw(json: "null"))

        /// The route, as a bounded label: the gateway's own paths, `/v1/models/{model}`, or `other`.
        static func endpoint(_ path: String) -> String {
            switch path {
            case "/v1/chat/completions", "/chat/completions", "/v1/models", "/v1/usage", "/health", "/ready", "/metrics":
                return path
            default:
                return path.hasPrefix("/v1/models/") ? "/v1/models/{model}" : "other"
            }
        }

        static func quiet(_ endpoint: String) -> Bool { quietPaths.contains(endpoint) }
    }
}
