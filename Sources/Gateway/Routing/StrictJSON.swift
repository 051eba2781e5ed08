/// Checks that a request body is one JSON text exactly as RFC 8259 defines it, in UTF-8.
///
/// `JSONDecoder` is more lenient than the providers behind the gateway: it takes trailing commas
/// and leading zeros, and it never looks inside the values the gateway does not decode (message
/// contents, tools), so raw control characters, bad escapes or invalid UTF-8 there went unseen.
/// Such a body was routed, counted against a key and forwarded, only for the provider to refuse
/// it. This check runs first, so every such body gets the gateway's own 400 `invalid_json`.
///
/// One pass over the bytes, on the request's hot path: no decoding, no allocation per byte (only
/// the stack of open containers, one entry per nesting level).
enum StrictJSON {
    /// The most containers (objects and arrays) open at once, the outermost included: the
    /// limit of Foundation's `JSONDecoder`, which refuses deeper text. Checked here so that such
    /// a body gets a 400 saying so, instead of a parse error with no reason.
    static let maxDepth = 512

    /// Why a text is refused.
    struct Failure: Equatable {
        /// The first byte that makes the text invalid (its length when the text ends too early),
        /// or the bracket that opens one container too many.
        let offset: Int
        /// Nested deeper than `maxDepth`, though valid JSON as far as read.
        let isTooDeep: Bool
    }

    /// Nil when `bytes` is valid JSON nested at most `maxDepth` deep.
    static func failure(in bytes: UnsafeRawBufferPointer) -> Failure? {
        var scanner = Scanner(bytes: bytes)
        return scanner.run().map { Failure(offset: $0, isTooDeep: scanner.tooDeep) }
    }

    /// Whether `bytes` look like JSON in another encoding than UTF-8: a byte order mark, or the
    /// zero bytes UTF-16 and UTF-32 put among the first four (RFC 4627's detection).
    static func isOtherEncoding(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let head = bytes.prefix(4)
        return head.starts(with: [0xEF, 0xBB, 0xBF]) || head.starts(with: [0xFE, 0xFF]) || head.starts(with: [0xFF, 0xFE])
            || head.contains(0)
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var index = 0
        /// The containers open around `index`, innermost last: true for an object.
        var open: [Bool] = []
        /// Set when the scan stopped at a container past `maxDepth`.
        var tooDeep = false

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
            open.reserveCapacity(16)
        }

        mutating func run() -> Int? {
            value: while true {
                // A value is expected here.
                skipSpace()
                guard index < bytes.count else { return index }
                switch bytes[index] {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    let isObject = bytes[index] == UInt8(ascii: "{")
                    // Counted with this one: `open` holds the containers around it.
                    guard open.count < StrictJSON.maxDepth else {
                        tooDeep = true
                        return index
                    }
                    index += 1
                    skipSpace()
                    if next(is: isObject ? "}" : "]") {
                        index += 1  // empty
                    } else {
                        open.append(isObject)
                        if isObject { guard member() else { return index } }
                        continue value
                    }
                case UInt8(ascii: "\""):
                    guard string() else { return index }
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    guard number() else { return index }
                case UInt8(ascii: "t"):
                    guard literal("true") else { return index }
                case UInt8(ascii: "f"):
                    guard literal("false") else { return index }
                case UInt8(ascii: "n"):
                    guard literal("null") else { return index }
                default:
                    return index
                }
                // After a value: a comma and the next one, the end of containers, or the end.
                while true {
                    skipSpace()
                    guard let inObject = open.last else { return index == bytes.count ? nil : index }
                    guard index < bytes.count else { return index }
                    switch bytes[index] {
                    case UInt8(ascii: ","):
                        // Another value must follow: `,}` and `,]` (trailing commas) fail there.
                        index += 1
                        if inObject {
                            skipSpace()
                            guard member() else { return index }
                        }
                        continue value
                    case UInt8(ascii: "}") where inObject, UInt8(ascii: "]") where !inObject:
                        index += 1
                        open.removeLast()
                    default:
                        return index
                    }
                }
            }
        }

        private func next(is character: Unicode.Scalar) -> Bool {
            index < bytes.count && bytes[index] == UInt8(ascii: character)
        }

        private mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        /// A member's name and its colon, up to its value.
        private mutating func member() -> Bool {
            guard next(is: "\""), string() else { return false }
            skipSpace()
            guard next(is: ":") else { return false }
            index += 1
            return true
        }

        private mutating func literal(_ word: StaticString) -> Bool {
            let expected = UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
            for byte in expected {
                guard index < bytes.count, bytes[index] == byte else { return false }
                index += 1
            }
            return true
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; a digit after a leading 0
        /// is left for the caller, which finds no delimiter there.
        private mutating func number() -> Bool {
            if next(is: "-") { index += 1 }
            if next(is: "0") {
                index += 1
            } else {
                guard digits() else { return false }
            }
            if next(is: ".") {
                index += 1
                guard digits() else { return false }
            }
            if next(is: "e") || next(is: "E") {
                index += 1
                if next(is: "+") || next(is: "-") { index += 1 }
                guard digits() else { return false }
            }
            return true
        }

        /// One or more digits.
        private mutating func digits() -> Bool {
            let start = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index > start
        }

        /// From the opening quote to just past the closing one: no raw control characters, only
        /// JSON's escapes, and well-formed UTF-8 (no overlong forms, surrogates or values past
        /// U+10FFFF). A `\u` escape of a lone surrogate is grammatical JSON and passes.
        private mutating func string() -> Bool {
            index += 1
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return true
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { return false }
                    switch bytes[index] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        index += 1
                    case UInt8(ascii: "u"):
                        index += 1
                        for _ in 0..<4 {
                            guard index < bytes.count, bytes[index].isHexDigit else { return false }
                            index += 1
                        }
                    default:
                        return false
                    }
                case 0x00..<0x20:
                    return false
                case 0x20..<0x80:
                    index += 1
                case 0xC2...0xDF:
                    guard continuation(0x80...0xBF, then: 0) else { return false }
                case 0xE0:
                    guard continuation(0xA0...0xBF, then: 1) else { return false }
                case 0xE1...0xEC, 0xEE...0xEF:
                    guard continuation(0x80...0xBF, then: 1) else { return false }
                case 0xED:
                    guard continuation(0x80...0x9F, then: 1) else { return false }  // not D800-DFFF
                case 0xF0:
                    guard continuation(0x90...0xBF, then: 2) else { return false }
                case 0xF1...0xF3:
                    guard continuation(0x80...0xBF, then: 2) else { return false }
                case 0xF4:
                    guard continuation(0x80...0x8F, then: 2) else { return false }  // not past U+10FFFF
                default:
                    return false  // a continuation byte without a lead, C0, C1, F5-FF
                }
            }
            return false
        }

        /// Past a multi-byte UTF-8 sequence's lead byte: its first continuation byte in `first`,
        /// then `more` bytes in 80-BF. Stops on the first byte that does not fit.
        private mutating func continuation(_ first: ClosedRange<UInt8>, then more: Int) -> Bool {
            index += 1
            guard index < bytes.count, first.contains(bytes[index]) else { return false }
            index += 1
            for _ in 0..<more {
                guard index < bytes.count, (0x80...0xBF).contains(bytes[index]) else { return false }
                index += 1
            }
            return true
        }
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): true
        default: false
        }
    }
}
