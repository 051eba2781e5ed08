/// `x-request-id`: taken from the client when it is a plausible id, made here otherwise.
enum RequestID {
    static let maxLength = 128

    /// The client's id if it has 1 to 128 characters, all visible ASCII other than quotes and
    /// backslashes (so it can go into a log line and a header unchanged); nil otherwise.
    static func accepted(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= maxLength else { return nil }
        let plausible = value.utf8.allSatisfy { byte in
            byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
        }
        return plausible ? value : nil
    }

    /// 32 random hex digits (128 bits), like a UUID without its dashes.
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = Array("0123456789abcdef".utf8)
        var bytes = [UInt8](repeating: 0, count: 32)
        for half in 0..<2 {
            var bits = generator.next() as UInt64
            for index in 0..<16 {
                bytes[half * 16 + index] = hex[Int(bits & 0xF)]
                bits >>= 4
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
