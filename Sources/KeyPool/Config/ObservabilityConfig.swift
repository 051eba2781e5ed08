/// The optional `logging` object: what the gateway writes to its standard output.
public struct LoggingConfig: Sendable, Equatable {
    public enum Format: String, Sendable, Equatable, CaseIterable {
        /// One JSON object per line (what log collectors parse).
        case json
        /// `timestamp level label: message key=value ...`, for a terminal.
        case text
    }

    /// The lowest level written: trace, debug, info, notice, warning, error or critical.
    /// Request lines are written at `info`.
    public var level: String
    public var format: Format
    /// Whether each request's line is written (on by default; probes of /health, /ready and
    /// /metrics are logged at debug level).
    public var requests: Bool
    /// Whether request lines carry the request body and the (non-streaming) answer body.
    /// Off by default: prompts and answers are the users' data.
    public var bodies: Bool
    /// Logged bodies are cut to this many bytes.
    public var maxBodyBytes: Int
    /// JSON members (any depth, names compared without case) whose values are replaced by
    /// `"[redacted]"` in logged bodies. Access keys and provider keys are removed from logged
    /// bodies whatever this says.
    public var redactFields: [String]

    public static let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
    public static let defaultRedactFields = ["api_key", "authorization", "password", "secret", "token", "x-api-key"]

    public init(
        level: String = "info", format: Format = .json, requests: Bool = true, bodies: Bool = false,
        maxBodyBytes: Int = 4096, redactFields: [String] = LoggingConfig.defaultRedactFields
    ) {
        self.level = level
        self.format = format
        self.requests = requests
        self.bodies = bodies
        self.maxBodyBytes = maxBodyBytes
        self.redactFields = redactFields
    }
}

/// The optional `metrics` object: `GET /metrics` in Prometheus' text format.
public struct MetricsConfig: Sendable, Equatable {
    /// When false, /metrics answers 404 (the counters are still kept, at no cost worth naming).
    public var enabled: Bool
    /// When set, /metrics requires `Authorization: Bearer <token>` (Prometheus'
    /// `authorization: {credentials: ...}`); `${ENV_VAR}` references are expanded. The
    /// gateway's access keys are not accepted for it, so a scraper holds no key that spends tokens.
    public var bearerToken: String?

    public init(enabled: Bool = true, bearerToken: String? = nil) {
        self.enabled = enabled
        self.bearerToken = bearerToken
    }
}
