import Hummingbird

/// The OpenAI-compatible endpoints under `/v1`.
enum OpenAIRoutes {
    static func add(to router: Router<MockContext>, simulator: Simulator) {
        let dialect = OpenAIDialect()
        router.post("/v1/chat/completions") { request, context in
            try await simulator.serve(request, context: context, dialect: dialect) { body, faults in
                try OpenAIChat.render(body, faults: faults)
            }
        }
        router.post("/v1/embeddings") { request, context in
            let dimensions = simulator.config.current.embeddingDimensions ?? 16
            return try await simulator.serve(request, context: context, dialect: dialect) { body, _ in
                try OpenAIEmbeddings.render(body, defaultDimensions: dimensions)
            }
        }
        router.get("/v1/models") { request, context in
            let models = simulator.config.current.modelList
            return try await simulator.serve(request, context: context, dialect: dialect) { _, _ in
                .json(["object": "list", "data": .array(models.map(model))])
            }
        }
        // Named {target} like the Gemini route on the same path shape: the router needs one name.
        router.get("/v1/models/{target}") { request, context in
            let id = try context.parameters.require("target")
            let known = simulator.config.current.modelList.contains(id)
            return try await simulator.serve(request, context: context, dialect: dialect) { _, _ in
                guard known else { throw ProviderError.notFound("The model '\(id)' does not exist (mock-provider).") }
                return .json(model(id))
            }
        }
    }

    private static func model(_ id: String) -> JSONValue {
        ["id": .string(id), "object": "model", "created": 1_700_000_000, "owned_by": "mock-provider"]
    }
}
