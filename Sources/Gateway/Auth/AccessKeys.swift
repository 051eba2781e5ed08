import Crypto
import HTTPTypes

/// The access keys clients may present, kept only as SHA-256 digests.
///
/// A presented key is hashed and compared with every digest, each comparison touching every
/// byte, so neither the position of a mismatch nor which key matched shows in the timing.
struct AccessKeys: Sendable {
    private let digests: [[UInt8]]

    init(_ keys: [String]) {
        digests = keys.map { Array(SHA256.hash(data: Array($0.utf8))) }
    }

    /// Checks `Authorization: Bearer <key>` (also accepted: `x-api-key`, which some clients send).
    func authorize(_ headers: HTTPFields) throws(GatewayError) {
        guard let presented = Self.presentedKey(headers) else { throw .missingAccessKey }
        guard matches(presented) else { throw .wrongAccessKey }
    }

    func matches(_ key: Substring) -> Bool {
        let digest = Array(SHA256.hash(data: Array(key.utf8)))
        var found: UInt8 = 0
        for candidate in digests {
            var difference: UInt8 = 0
            for index in 0..<digest.count { difference |= candidate[index] ^ digest[index] }
            found |= difference == 0 ? 1 : 0
        }
        return found == 1
    }

    private static let apiKeyHeader = HTTPField.Name("x-api-key")!

    static func presentedKey(_ headers: HTTPFields) -> Substring? {
        if let authorization = headers[.authorization] {
            let value = authorization[...]
            guard value.count > 7, value.prefix(7).lowercased() == "bearer " else { return nil }
            let key = value.dropFirst(7).drop { $0 == " " }
            return key.isEmpty ? nil : key
        }
        if let key = headers[apiKeyHeader], !key.isEmpty { return key[...] }
        return nil
    }
}
