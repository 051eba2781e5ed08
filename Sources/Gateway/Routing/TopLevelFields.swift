import Foundation
import NIOCore

/// Where each top-level member of a JSON object sits in the bytes, so `BodyRewriter` can replace
/// one value and copy everything else as it came.
///
/// Not a parser: it only tracks strings (for their escapes) and nesting depth to find where
/// each top-level value starts and ends. It runs on request bodies already found to be valid
/// JSON (`StrictJSON`), and on upstream answers to find `usage` and its integer counts
/// (`TokenUsage.of`), where anything it does not recognise means "no usage", never a guess.
struct TopLevelFields {
    struct Field {
        let name: String
        /// Byte offsets (relative to the reader index) of the value, end exclusive.
        let value: Range<Int>
    }

    let fields: [Field]
    /// Offset of the object's closing `}`.
    let closingBrace: Int

    init?(_ body: ByteBuffer) {
        guard let scanned = body.withUnsafeReadableBytes({ Self(bytes: $0) }) else { return nil }
        self = scanned
    }

    /// The members of the object in `bytes`; offsets count from its first byte.
    init?(bytes: UnsafeRawBufferPointer) {
        var result: [Field] = []
        var closing: Int?
        let found: Bool = { () -> Bool in
            var index = 0
            let count = bytes.count
            func skipSpace() { while index < count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 } }
            /// From an opening quote to just past the closing one.
            func skipString() -> Bool {
                index += 1
                while index < count {
                    switch bytes[index] {
                    case UInt8(ascii: "\\"): index += 2
                    case UInt8(ascii: "\""): index += 1; return true
                    default: index += 1
                    }
                }
                return false
            }
            func skipValue() -> Bool {
                guard index < count else { return false }
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    return skipString()
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    var depth = 0
                    while index < count {
                        switch bytes[index] {
                        case UInt8(ascii: "\""):
                            guard skipString() else { return false }
                            continue
                        case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                        case UInt8(ascii: "}"), UInt8(ascii: "]"):
                            depth -= 1
                            if depth == 0 { index += 1; return true }
                        default: break
                        }
                        index += 1
                    }
                    return false
                default:
                    // A number or a literal: up to the next delimiter.
                    while index < count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) {
                        index += 1
                    }
                    return true
                }
            }

            skipSpace()
            guard index < count, bytes[index] == UInt8(ascii: "{") else { return false }
            index += 1
            while true {
                skipSpace()
                guard index < count else { return false }
                if bytes[index] == UInt8(ascii: "}") { closing = index; return true }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "\"") else { return false }
                let nameStart = index + 1
                guard skipString() else { return false }
                // An escaped name ("mod\u0065l") is decoded, so it cannot pass for another member.
                let quoted = UnsafeRawBufferPointer(rebasing: bytes[(nameStart - 1)..<index])
                let name = Self.string(quoted: quoted) ?? String(decoding: quoted, as: UTF8.self)
                skipSpace()
                guard index < count, bytes[index] == UInt8(ascii: ":") else { return false }
                index += 1
                skipSpace()
                let valueStart = index
                guard skipValue() else { return false }
                result.append(Field(name: name, value: valueStart..<index))
            }
        }()
        guard found, let closing else { return nil }
        self.fields = result
        self.closingBrace = closing
    }

    /// A quoted JSON string's value: the bytes between the quotes when it has no escapes,
    /// decoded by `JSONDecoder` when it has (rare); nil when those escapes do not decode.
    static func string(quoted: UnsafeRawBufferPointer) -> String? {
        guard quoted.count >= 2 else { return nil }
        let inside = UnsafeRawBufferPointer(rebasing: quoted[1..<(quoted.count - 1)])
        guard inside.contains(UInt8(ascii: "\\")) else { return String(decoding: inside, as: UTF8.self) }
        return try? JSONDecoder().decode(String.self, from: Data(quoted))
    }

    /// The last member called `name` (JSON parsers keep the last of duplicates).
    func field(_ name: String) -> Field? {
        fields.last { $0.name == name }
    }
}
