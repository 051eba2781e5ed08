import Crypto

/// The key id used across the project: the first 12 hex digits of the key's SHA-256, so a key
/// can be named in logs and stats without being revealed.
enum KeyID {
    static func of(_ key: String) -> String {
        let digest = SHA256.hash(data: Array(key.utf8))
        var hex = ""
        hex.reserveCapacity(12)
        for byte in digest.prefix(6) {
            hex += String(byte >> 4, radix: 16) + String(byte & 0x0f, radix: 16)
        }
        return hex
    }
}
