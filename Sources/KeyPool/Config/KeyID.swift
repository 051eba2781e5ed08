import Crypto

/// Stable, non-secret identifiers for provider keys.
///
/// The id is the first 12 hex digits of the key's SHA-256: the same key has the same id on every
/// replica and across reloads, so counters in Redis survive both, and the id can be logged,
/// returned in headers and used in Redis key names without revealing the key.
public enum KeyID {
    /// Hex digits kept from the digest: 48 bits, ample to tell apart the keys of one gateway.
    public static let length = 12

    /// The id of `secret`: lower-case hex, `length` characters.
    public static func of(_ secret: String) -> String {
        String(hexDigest(of: Array(secret.utf8)).prefix(length))
    }

    /// Full lower-case hex SHA-256 of `bytes`.
    static func hexDigest(of bytes: some Sequence<UInt8>) -> String {
        var digest = SHA256()
        digest.update(data: Array(bytes))
        return digest.finalize().map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
