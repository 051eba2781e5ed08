import Foundation
import NIOCore

/// Any JSON value, for what the adapters carry through without looking inside: tool parameter
/// schemas, tool arguments, response schemas, and the request body while it is checked field by
/// field. Codable (unlike JSONSerialization's `Any`), so it encodes inside the providers' Codable
/// structs and, with `.sortedKeys`, always to the same bytes.
///
/// Integers stay integers (`.int`) so arguments like `{"days":3}` are not rewritten as `3.0`.
enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { object[key] } else { nil }
    }

    var isNull: Bool { self == .null }

    var stringValue: String? {
        if case .string(let value) = self { value } else { nil }
    }

    var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { value } else { nil }
    }

    var arrayValue: [JSONValue]? {
        if case .array(let value) = self { value } else { nil }
    }

    var intValue: Int? {
        switch self {
        case .int(let value): value
        // 2.0 is an integer to JSON; an OpenAI client may well send it.
        case .double(let value) where value.rounded() == value && abs(value) < 1e15: Int(value)
        default: nil
        }
    }

    var doubleValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    /// Compact JSON with sorted keys: tool arguments as OpenAI clients get them.
    var compactJSON: String {
        (try? JSONResponse.encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// Parses `text` (e.g. tool call arguments); nil when it is not JSON.
    init?(parsing text: String) {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else { return nil }
        self = value
    }
}

/// Encoding and decoding shared by the adapters.
enum AdapterJSON {
    /// Encodes one of the adapters' own values. Only a non-finite number could fail, and parsed
    /// JSON holds none, so a failure is the gateway's fault (500), not the client's.
    static func encode(_ value: some Encodable) throws(GatewayError) -> ByteBuffer {
        do {
            return ByteBuffer(bytes: try JSONResponse.encoder.encode(value))
        } catch {
            throw GatewayError.internalError()
        }
    }

    /// The whole of `buffer` as `T`; nil when it is not JSON of that shape.
    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) -> T? {
        buffer.withUnsafeReadableBytes { bytes in
            try? JSONDecoder().decode(T.self, from: Data(bytes))
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) -> T? {
        try? JSONDecoder().decode(T.self, from: Data(bytes))
    }
}
