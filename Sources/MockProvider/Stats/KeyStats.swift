/// What the simulator served to one key (or in total).
struct KeyStats: Sendable {
    var requests = 0
    var streamed = 0
    var promptTokens = 0
    var completionTokens = 0
    var statuses: [Int: Int] = [:]
    var apis: [String: Int] = [:]

    mutating func add(_ record: RequestRecord) {
        requests += 1
        if record.streamed { streamed += 1 }
        promptTokens += record.promptTokens
        completionTokens += record.completionTokens
        statuses[record.status, default: 0] += 1
        apis[record.api, default: 0] += 1
    }

    /// The JSON shape documented in docs/mock-provider.md.
    var json: [String: JSONValue] {
        [
            "requests": .int(requests),
            "streamed": .int(streamed),
            "prompt_tokens": .int(promptTokens),
            "completion_tokens": .int(completionTokens),
            "total_tokens": .int(promptTokens + completionTokens),
            "statuses": .object(Dictionary(uniqueKeysWithValues: statuses.map { (String($0.key), JSONValue.int($0.value)) })),
            "apis": .object(apis.mapValues { .int($0) }),
        ]
    }
}

/// One served request as the stats see it.
struct RequestRecord: Sendable {
    var api: String
    var status: Int
    var streamed = false
    var promptTokens = 0
    var completionTokens = 0
}
