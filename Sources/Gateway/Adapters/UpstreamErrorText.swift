import Foundation
import HTTPTypes

/// What the adapters' `error(status:body:)` share: the OpenAI error type for an upstream status,
/// and the provider's message made safe to show.
enum UpstreamErrorText {
    /// OpenAI's error type for a status the provider answered with.
    static func type(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400, 404, 409, 413, 422: "invalid_request_error"
        case 401: "authentication_error"
        case 403: "permission_error"
        case 429: "rate_limit_error"
        default: "server_error"
        }
    }

    /// `text` with every occurrence of each of `hidden` (longest first) replaced.
    static func redact(_ text: String, hiding hidden: [String]) -> String {
        var text = text
        for value in hidden.sorted(by: { $0.count > $1.count }) where !value.isEmpty && text.contains(value) {
            text = text.replacingOccurrences(of: value, with: "[redacted]")
        }
        return text
    }

    /// What a provider's message must not show the client about a try: its key, and where the
    /// provider is (the entry's `base_url`, and its host with and without the port: an internal
    /// upstream's address is the operator's business).
    static func hidden(secret: String, baseURL: String) -> [String] {
        var hidden = [secret, baseURL]
        if let url = URLComponents(string: baseURL), let host = url.host, !host.isEmpty {
            hidden.append(host)
            if let port = url.port { hidden.append("\(host):\(port)") }
        }
        return hidden
    }

    /// The provider's message without anything shaped like an API key (Anthropic `sk-ant-…`,
    /// Google `AIza…`): `error(status:body:)` is not given the key, and a provider that echoes
    /// one back must not hand it to the client (the proxy then also removes the exact key, see
    /// `GatewayError.redacting`). Long messages are cut.
    static func scrub(_ message: String) -> String {
        var text = message
        for pattern in [#"sk-[A-Za-z0-9_\-]{8,}"#, #"AIza[0-9A-Za-z_\-]{20,}"#] {
            text = text.replacingOccurrences(of: pattern, with: "[redacted]", options: .regularExpression)
        }
        return text.count > 2000 ? String(text.prefix(2000)) + "…" : text
    }
}

extension UpstreamErrorText {
    /// A 2xx answer that is not the provider's format.
    static func unreadable(_ provider: String) -> GatewayError {
        GatewayError(
            .badGateway, "The upstream provider '\(provider)' sent an answer the gateway could not read.",
            type: "upstream_error", code: "upstream_invalid_response")
    }

    /// A 2xx answer larger than the gateway holds in memory for a non-streamed request.
    static func tooLarge(_ provider: String, limit: Int) -> GatewayError {
        GatewayError(
            .badGateway,
            "The upstream provider '\(provider)' answered with more than \(limit / (1024 * 1024)) MiB; ask for a streamed answer instead.",
            type: "upstream_error", code: "upstream_response_too_large")
    }
}
