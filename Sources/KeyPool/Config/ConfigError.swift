/// Everything wrong with a config, found in one pass so an operator fixes it in one go.
///
/// Each problem names its JSON path and what is wrong, e.g.
/// `provider_keys[1].max_request_min must be a positive integer`. No problem ever contains a
/// key or an access key: duplicates and bad keys are named by their path only.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public let problems: [String]

    public init(problems: [String]) {
        self.problems = problems
    }

    public var description: String {
        if problems.count == 1 { return "invalid config: \(problems[0])" }
        return "invalid config (\(problems.count) problems):\n" + problems.map { "- \($0)" }.joined(separator: "\n")
    }
}
