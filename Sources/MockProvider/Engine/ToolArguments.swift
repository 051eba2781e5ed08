import Foundation

/// Builds a tool call's arguments from the tool's JSON schema, deterministically.
///
/// Every property of the schema gets a value: its `default`, else its first `enum` value, else by
/// type: string `"mock-<property>"`, integer and number `1`, boolean `true`, array one element
/// built from `items`, object built recursively. Type names are compared case-insensitively
/// because Gemini writes them in capitals (`STRING`).
enum ToolArguments {
    static func object(schema: JSON.Object?) -> JSONValue {
        var result: [String: JSONValue] = [:]
        for (name, value) in schema?.object("properties") ?? [:] {
            result[name] = self.value(schema: value as? JSON.Object, name: name)
        }
        return .object(result)
    }

    private static func value(schema: JSON.Object?, name: String) -> JSONValue {
        guard let schema else { return .string("mock-\(name)") }
        if let value = schema["default"], !(value is NSNull) { return JSONValue(any: value) }
        if let first = schema.array("enum")?.first { return JSONValue(any: first) }
        switch typeName(of: schema) {
        case "integer", "number": return 1
        case "boolean": return true
        case "array": return [value(schema: schema.object("items"), name: name)]
        case "object": return object(schema: schema)
        default: return .string("mock-\(name)")
        }
    }

    /// The schema's type; a list of types (`["string", "null"]`) counts as its first non-null.
    private static func typeName(of schema: JSON.Object) -> String {
        if let type = schema.string("type") { return type.lowercased() }
        if let types = schema.array("type") as? [String] {
            return types.first { $0.lowercased() != "null" }?.lowercased() ?? "string"
        }
        if schema.object("properties") != nil { return "object" }
        return "string"
    }
}
