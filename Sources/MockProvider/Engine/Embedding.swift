import Crypto
import Foundation

/// Deterministic embedding vectors: component i of the vector for text t is
/// (b - 128) / 128 where b is byte (i mod 32) of SHA-256("<t>#<i / 32>"). Such values are exact
/// in Float32, so the JSON floats and the base64 encoding carry the same numbers.
enum Embedding {
    static func vector(for text: String, dimensions: Int) -> [Float] {
        var values: [Float] = []
        values.reserveCapacity(dimensions)
        var block = 0
        while values.count < dimensions {
            let digest = SHA256.hash(data: Array("\(text)#\(block)".utf8))
            for byte in digest where values.count < dimensions {
                values.append((Float(byte) - 128) / 128)
            }
            block += 1
        }
        return values
    }

    /// OpenAI's `encoding_format: "base64"`: little-endian Float32s, base64-encoded.
    static func base64(_ values: [Float]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for value in values {
            let bits = value.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
        }
        return Data(bytes).base64EncodedString()
    }
}
