import Hummingbird

/// Gemini's `models/{model}:{method}` endpoints under `/v1beta` (and `/v1`).
///
/// The router splits paths on "/" only, so `{target}` captures `gemini-2.0-flash:generateContent`
/// whole and the method is split off here.
enum GeminiRoutes {
    static func add(to router: Router<MockContext>, simulator: Simulator) {
        let dialect = GeminiDialect()
        for version in ["v1beta", "v1"] {
            router.post("/\(version)/models/{target}") { request, context in
                let target = try context.parameters.require("target")
                guard let colon = target.lastIndex(of: ":") else {
                    throw HTTPError(.notFound)
                }
                let model = String(target[..<colon])
                let method = String(target[target.index(after: colon)...])
                let sse = request.uri.queryParameters.get("alt") == "sse"
                let dimensions = simulator.config.current.embeddingDimensions ?? 16
                return try await simulator.serve(request, context: context, dialect: dialect) { body, faults in
                    switch method {
                    case "generateContent":
                        return try GeminiGenerate.render(body, model: model, stream: false, sse: false, faults: faults)
                    case "streamGenerateContent":
                        return try GeminiGenerate.render(body, model: model, stream: true, sse: sse, faults: faults)
                    case "countTokens":
                        return try GeminiGenerate.countTokens(body, model: model)
                    case "embedContent":
                        return try embed(body, dimensions: dimensions)
                    default:
                        throw ProviderError.notFound("Method \(method) is not supported by mock-provider.")
                    }
                }
            }
        }
        router.get("/v1beta/models") { request, context in
            let models = simulator.config.current.modelList
            return try await simulator.serve(request, context: context, dialect: dialect) { _, _ in
                .json(["models": .array(models.map { id -> JSONValue in
                    [
                        "name": .string("models/\(id)"), "displayName": .string(id), "version": "mock",
                        "inputTokenLimit": 1_048_576, "outputTokenLimit": 8192,
                        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens", "embedContent"],
                    ]
                })])
            }
        }
    }

    /// `:embedContent`: the same vectors as `/v1/embeddings`, for the text parts joined by "\n".
    private static func embed(_ body: JSON.Object?, dimensions: Int) throws -> Prepared {
        guard let content = body?.object("content") else { throw ProviderError.badRequest("content is required") }
        let text = GeminiGenerate.text(of: content)
        let size = body?.int("outputDimensionality") ?? dimensions
        let vector = Embedding.vector(for: text, dimensions: max(1, min(size, 8192)))
        return .json(["embedding": ["values": .array(vector.map { .double(Double($0)) })]], promptTokens: TokenCounter.tokens(text))
    }
}
