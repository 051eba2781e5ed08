/// The check the real Generative Language API makes on its OpenAPI-subset `Schema` fields
/// (`functionDeclarations[].parameters`, `generationConfig.responseSchema`): it parses them as
/// protobuf messages, so a JSON Schema keyword the message lacks is a 400 naming it. Gemini takes
/// full JSON Schema only in `parametersJsonSchema` / `responseJsonSchema` (google-genai itself
/// refuses `additionalProperties` and inlines `$defs` / `$ref` before using the subset fields for
/// the Developer API). Checked so a client that puts an OpenAI schema in the wrong field fails
/// here as it would against Google.
enum GeminiSchemaSubset {
    /// JSON Schema keywords that the `Schema` message does not have.
    static let unknownKeywords: Set<String> = ["additionalProperties", "$defs", "$ref", "$schema", "definitions"]

    /// Throws Google's 400 for the first unknown keyword in `schema` or anything nested in it.
    static func check(_ schema: Any?, at path: String) throws {
        guard let object = schema as? JSON.Object else {
            if let array = schema as? [Any] {
                for (index, element) in array.enumerated() { try check(element, at: "\(path)[\(index)]") }
            }
            return
        }
        let keys = object.keys.sorted()
        if let key = keys.first(where: unknownKeywords.contains) {
            throw ProviderError.badRequest(
                "Invalid JSON payload received. Unknown name \"\(key)\" at '\(path)': Cannot find field.")
        }
        for key in keys {
            // Under `properties` the keys are the client's own names, not keywords.
            if key == "properties", let properties = object[key] as? JSON.Object {
                for name in properties.keys.sorted() { try check(properties[name], at: "\(path).properties[\(name)]") }
            } else {
                try check(object[key], at: "\(path).\(key)")
            }
        }
    }

    /// Refuses a member given in both its subset and its JSON Schema form.
    static func exclusive(_ object: JSON.Object, _ subset: String, _ jsonSchema: String, at path: String) throws {
        if object[subset] != nil, object[jsonSchema] != nil {
            throw ProviderError.badRequest("\(path): \(subset) and \(jsonSchema) are mutually exclusive.")
        }
    }
}
