import Synchronization

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

    /// 32 hex digits: 16 random ones drawn once per process (so replicas do not collide), then a
    /// per-process sequence number. Unique without a random draw (a `getrandom` system call
    /// each) per request; request ids are labels, not secrets.
    static func make() -> String {
        let sequence = counter.add(1, ordering: .relaxed).newValue
        var bytes = prefix
        bytes.reserveCapacity(32)
        appendHex(sequence, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static let prefix: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        appendHex(generator.next(), to: &bytes)
        return bytes
    }()

    private static let counter = Atomic<UInt64>(0)

    private static let hex = Array("0123456789abcdef".utf8)

    private static func appendHex(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 60, through: 0, by: -4) {
            bytes.append(hex[Int((value >> UInt64(shift)) & 0xF)])
        }
    }
}
