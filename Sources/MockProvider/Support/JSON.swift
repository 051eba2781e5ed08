import Foundation
import NIOCore

/// Reading requests and writing answers.
///
/// Requests are read with JSONSerialization as loosely typed trees (message contents and tool
/// schemas are free-form, and its reader is fast); answers are `JSONValue`s written by
/// JSONEncoder with sorted keys, so the same request always yields the same bytes.
enum JSON {
    typealias Object = [String: Any]

    /// Parses a request body that must be a JSON object.
    static func object(from buffer: ByteBuffer) -> Object? {
        guard buffer.readableBytes > 0 else { return nil }
        let data = Data(buffer.readableBytesView)
        return (try? JSONSerialization.jsonObject(with: data)) as? Object
    }

    static func data(_ value: JSONValue) -> Data {
        // JSONEncoder is cheap to make; one per call keeps it out of shared state.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A JSONValue always encodes (non-finite doubles aside, which are never produced).
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }

    /// Compact JSON with sorted keys: the form of tool-call arguments in answers and docs.
    static func string(_ value: JSONValue) -> String {
        String(decoding: data(value), as: UTF8.self)
    }

    static func buffer(_ value: JSONValue) -> ByteBuffer {
        ByteBuffer(bytes: data(value))
    }
}

extension Dictionary where Key == String, Value == Any {
    func string(_ key: String) -> String? { self[key] as? String }
    func object(_ key: String) -> JSON.Object? { self[key] as? JSON.Object }
    func array(_ key: String) -> [Any]? { self[key] as? [Any] }
    func objects(_ key: String) -> [JSON.Object] { (self[key] as? [Any])?.compactMap { $0 as? JSON.Object } ?? [] }
    func bool(_ key: String) -> Bool? { self[key] as? Bool }
    func int(_ key: String) -> Int? {
        if let n = self[key] as? Int { return n }
        if let n = self[key] as? Double { return Int(n) }
        return nil
    }
}
