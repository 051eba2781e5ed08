import Crypto
import HTTPTypes
import KeyPool

/// The access keys clients may present, kept only as SHA-256 digests.
///
/// A presented key is hashed and compared with every digest, each comparison touching every
/// byte, so neither the position of a mismatch nor which key matched shows in the timing.
struct AccessKeys: Sendable {
    private let digests: [[UInt8]]
    /// Each key's id (as provider keys have: the first 12 hex digits of its SHA-256), for logs.
    let ids: [String]

    init(_ keys: [String]) {
        digests = keys.map { Array(SHA256.hash(data: Array($0.utf8))) }
        ids = keys.map { KeyID.of($0) }
    }

    /// Checks `Authorization: Bearer <key>` (also accepted: `x-api-key`, which some clients
    /// send) and returns the id of the key presented.
    @discardableResult
    func authorize(_ headers: HTTPFields) throws(GatewayError) -> String {
        guard let presented = Self.presentedKey(headers) else {
            // An Authorization header of another scheme (Basic, added by a proxy in front) or an
            // empty Bearer is not a missing header: say what is wrong with it.
            throw headers[.authorization] == nil ? .missingAccessKey : .malformedAuthorization
        }
        guard let index = match(presented) else { throw .wrongAccessKey }
        return ids[index]
    }

    /// `authorize`, noting the key's id in the request's record (for its log line).
    func authorize(_ headers: HTTPFields, record: RequestRecord) throws(GatewayError) {
        let id = try authorize(headers)
        record.update { $0.accessKeyID = id }
    }

    func matches(_ key: Substring) -> Bool {
        match(key) != nil
    }

    /// The index of the key matching `key`, comparing with every digest whatever the outcome.
    func match(_ key: Substring) -> Int? {
        let digest = Array(SHA256.hash(data: Array(key.utf8)))
        var found = -1
        for (position, candidate) in digests.enumerated() {
            var difference: UInt8 = 0
            for index in 0..<digest.count { difference |= candidate[index] ^ digest[index] }
            // Branch-free select: the loop's work is the same whichever key matched.
            let isMatch = Int(bitPattern: UInt(difference == 0 ? 1 : 0) &* UInt.max)
            found = (position & isMatch) | (found & ~isMatch)
        }
        return found >= 0 ? found : nil
    }

    private static let apiKeyHeader = HTTPField.Name("x-api-key")!

    /// The key presented: a Bearer token in `Authorization`, else `x-api-key`. A Bearer token
    /// wins over `x-api-key`; an `Authorization` header of another scheme (Basic credentials a
    /// proxy in front added) does not hide an `x-api-key`.
    static func presentedKey(_ headers: HTTPFields) -> Substring? {
        if let authorization = headers[.authorization] {
            let value = authorization[...]
            if value.count > 7, value.prefix(7).lowercased() == "bearer " {
                let key = value.dropFirst(7).drop { $0 == " " }
                if !key.isEmpty { return key }
            }
        }
        if let key = headers[apiKeyHeader], !key.isEmpty { return key[...] }
        return nil
    }
}
