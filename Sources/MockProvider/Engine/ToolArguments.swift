import Foundation

/// Builds a tool call's arguments (or a JSON answer) from a JSON schema, deterministically.
///
/// Every property of the schema gets a value: its `default`, else its first `enum` value (or its
/// `const`), else by type: string `"mock-<property>"`, integer and number `1`, boolean `true`,
/// array one element built from `items`, object built recursively. `$ref` to `#/$defs/...` or
/// `#/definitions/...` of the root schema is followed (Pydantic's nested models), and `anyOf` /
/// `oneOf` take their first branch that is not `null` (Pydantic's optional fields). Type names are
/// compared case-insensitively because Gemini writes them in capitals (`STRING`).
enum ToolArguments {
    static func object(schema: JSON.Object?) -> JSONValue {
        object(schema: schema, root: schema, depth: 0)
    }

    /// Deeper than this, a recursive schema (a tree of `$ref`s) ends in a string.
    private static let maxDepth = 16

    private static func object(schema: JSON.Object?, root: JSON.Object?, depth: Int) -> JSONValue {
        var result: [String: JSONValue] = [:]
        for (name, value) in schema?.object("properties") ?? [:] {
            result[name] = self.value(schema: value as? JSON.Object, name: name, root: root, depth: depth + 1)
        }
        return .object(result)
    }

    private static func value(schema: JSON.Object?, name: String, root: JSON.Object?, depth: Int) -> JSONValue {
        guard var schema, depth <= maxDepth else { return .string("mock-\(name)") }
        if let target = resolved(schema, root: root) { schema = target }
        if let value = schema["default"], !(value is NSNull) { return JSONValue(any: value) }
        if let first = schema.array("enum")?.first { return JSONValue(any: first) }
        if let constant = schema["const"] { return JSONValue(any: constant) }
        for key in ["anyOf", "oneOf"] {
            if let branches = schema.array(key)?.compactMap({ $0 as? JSON.Object }),
                let branch = branches.first(where: { $0.string("type")?.lowercased() != "null" })
            {
                return value(schema: branch, name: name, root: root, depth: depth + 1)
            }
        }
        switch typeName(of: schema) {
        case "integer", "number": return 1
        case "boolean": return true
        case "array": return [value(schema: schema.object("items"), name: name, root: root, depth: depth + 1)]
        case "object": return object(schema: schema, root: root, depth: depth)
        default: return .string("mock-\(name)")
        }
    }

    /// The definition a local `$ref` points to, if the schema is one.
    private static func resolved(_ schema: JSON.Object, root: JSON.Object?) -> JSON.Object? {
        guard let ref = schema.string("$ref") else { return nil }
        for prefix in ["#/$defs/", "#/definitions/"] where ref.hasPrefix(prefix) {
            let name = String(ref.dropFirst(prefix.count))
            return root?.object(String(prefix.dropFirst(2).dropLast()))?.object(name)
        }
        return nil
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
