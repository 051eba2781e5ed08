/// `POST /v1/embeddings`: deterministic vectors (see `Embedding`), as floats or base64.
enum OpenAIEmbeddings {
    static func render(_ body: JSON.Object?, defaultDimensions: Int) throws -> Prepared {
        guard let body else { throw ProviderError.badRequest("Request body must be a JSON object.") }
        guard let model = body.string("model") else { throw ProviderError.badRequest("Missing required parameter: 'model'.") }
        let inputs = try texts(body["input"])
        let dimensions = body.int("dimensions") ?? defaultDimensions
        guard dimensions > 0 && dimensions <= 8192 else { throw ProviderError.badRequest("Invalid 'dimensions': \(dimensions).") }
        let base64 = body.string("encoding_format") == "base64"
        var characters = 0
        var data: [JSONValue] = []
        for (index, text) in inputs.enumerated() {
            characters += text.unicodeScalars.count
            let vector = Embedding.vector(for: text, dimensions: dimensions)
            let embedding: JSONValue = base64 ? .string(Embedding.base64(vector)) : .array(vector.map { .double(Double($0)) })
            data.append(["object": "embedding", "index": .int(index), "embedding": embedding])
        }
        let tokens = TokenCounter.tokens(characters: characters)
        return .json(
            ["object": "list", "data": .array(data), "model": .string(model), "usage": ["prompt_tokens": .int(tokens), "total_tokens": .int(tokens)]],
            promptTokens: tokens
        )
    }

    /// `input` as texts: a string, a list of strings, or token arrays (embedded as their numbers
    /// joined by spaces).
    private static func texts(_ input: Any?) throws -> [String] {
        if let text = input as? String { return [text] }
        if let list = input as? [String], !list.isEmpty { return list }
        if let tokens = input as? [Int], !tokens.isEmpty { return [tokens.map(String.init).joined(separator: " ")] }
        if let lists = input as? [[Int]], !lists.isEmpty { return lists.map { $0.map(String.init).joined(separator: " ") } }
        throw ProviderError.badRequest("'input' must be a string, a list of strings or token arrays.")
    }
}
