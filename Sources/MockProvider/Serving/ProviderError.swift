/// A refusal the simulator answers in the calling dialect's error shape.
struct ProviderError: Error, Sendable {
    var status: Int
    var message: String
    var retryAfter: Int?
    var limits: LimitStatus?
    /// Google's `ErrorInfo` reason (`API_KEY_INVALID`), for the dialect that sends one.
    var reason: String? = nil

    static func badRequest(_ message: String) -> ProviderError {
        ProviderError(status: 400, message: message)
    }

    static func notFound(_ message: String) -> ProviderError {
        ProviderError(status: 404, message: message)
    }
}
