import Hummingbird

/// Anthropic's Messages API.
enum AnthropicRoutes {
    static func add(to router: Router<MockContext>, simulator: Simulator) {
        let dialect = AnthropicDialect()
        router.post("/v1/messages") { request, context in
            try await simulator.serve(request, context: context, dialect: dialect) { body, faults in
                try AnthropicMessages.render(body, faults: faults)
            }
        }
        router.post("/v1/messages/count_tokens") { request, context in
            try await simulator.serve(request, context: context, dialect: dialect) { body, _ in
                try AnthropicMessages.countTokens(body)
            }
        }
    }
}
