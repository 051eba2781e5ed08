/// Why an upstream request failed. Messages are the gateway's own: never a URL or a key.
struct UpstreamClientError: Error, Equatable, CustomStringConvertible {
    enum Code: String, Sendable {
        /// No answer head by the request's deadline, or silence longer than the read timeout.
        case timeout
        /// The connection could not be made.
        case connect
        /// The connection closed or broke before the answer was complete.
        case closed
        /// The answer's body is larger than the caller accepts.
        case tooLarge
        /// The provider's base URL cannot be used (scheme, host).
        case badURL
        /// The client was shut down.
        case shutDown
    }

    let code: Code
    let detail: String
    /// The connection ended (closed, reset, or failed to take the request) before any of the
    /// answer arrived. On a pooled connection this is the provider closing it as idle at the
    /// moment it was reused: the client sends the request again on another connection.
    let beforeAnswer: Bool

    init(_ code: Code, _ detail: String = "", beforeAnswer: Bool = false) {
        self.code = code
        self.detail = detail
        self.beforeAnswer = beforeAnswer
    }

    static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }

    var description: String { detail.isEmpty ? "upstream \(code.rawValue)" : "upstream \(code.rawValue): \(detail)" }
}
