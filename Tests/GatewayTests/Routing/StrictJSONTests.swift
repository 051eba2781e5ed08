import NIOCore
import Testing

@testable import Gateway

@Suite("Strict JSON: request bodies are RFC 8259 JSON in UTF-8, whatever JSONDecoder would take")
struct StrictJSONTests {
    func firstError(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBytes { StrictJSON.failure(in: $0)?.offset }
    }

    func firstError(_ text: String) -> Int? {
        firstError(Array(text.utf8))
    }

    @Test(arguments: [
        #"{}"#, #"[]"#, #" { } "#, "\t{\r\n}\n", #""text""#, "0", "-0", "12", "-0.5e+10", "1E2", "1e-0", "3.25",
        "true", "false", "null",
        #"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.7,"n":1}"#,
        #"{"a":{"b":[1,[2,{"c":null}],{}],"d":[]},"e":""}"#,
        #"["\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"]"#,
        #"["\ud800"]"#,  // a lone surrogate escape: grammatical, if of unpredictable meaning
        "[\"é 日本 😀 \u{7F}\"]",  // two, three and four byte UTF-8, and DEL (not a control character to JSON)
    ])
    func validTexts(text: String) {
        #expect(firstError(text) == nil)
    }

    /// Each invalid text, and the offset of its first invalid byte.
    @Test(arguments: [
        // What JSONDecoder accepted and the gateway forwarded: trailing commas, leading zeros...
        (#"{"model":"x","messages":[],}"#, 27),
        (#"{"messages":[1,]}"#, 15),
        (#"{"a":01}"#, 6),
        (#"{"a":-01}"#, 7),
        (#"{"a":00.5}"#, 6),
        // ...and anything inside values it never decodes.
        (#"{"a":1.}"#, 7),
        (#"{"a":1e}"#, 7),
        (#"{"a":-}"#, 6),
        (#"{"a":"\q"}"#, 7),
        (#"{"a":"\u12G4"}"#, 10),
        // What it refused anyway: now refused here first, with the place.
        ("", 0), ("   ", 3), ("{", 1), (#"{"a":1"#, 6), (#"{"a":"x"#, 7), (#"{"a" 1}"#, 5), (#"{,"a":1}"#, 1),
        (#"{"a":1,,"b":2}"#, 7), (#"{a:1}"#, 1), ("{'a':1}", 1), (#"{"a":1}}"#, 7), (#"{"a":1} x"#, 8),
        (#"{}{}"#, 2), (#"[1 2]"#, 3), (#"[1}"#, 2), (#"{"a":]"#, 5), ("NaN", 0), ("[Infinity]", 1), ("[+1]", 1),
        ("[.5]", 1), ("[0x10]", 2), ("[True]", 1), ("[nul]", 4), ("[1]/*c*/", 3), ("\u{0C}{}", 0), ("\u{A0}{}", 0),
    ] as [(String, Int)])
    func invalidTexts(text: String, offset: Int) {
        #expect(firstError(text) == offset)
    }

    /// Bytes no String literal holds: raw control characters and broken UTF-8 inside strings.
    @Test(arguments: [
        ([0x00], 2), ([0x01], 2), ([0x0A], 2), ([0x09], 2), ([0x1F], 2),
        ([0xFF], 2), ([0x80], 2), ([0xC0, 0xAF], 2), ([0xC1, 0xBF], 2), ([0xC3], 3), ([0xC3, 0x28], 3),
        ([0xE0, 0x80, 0xAF], 3), ([0xED, 0xA0, 0x80], 3), ([0xE2, 0x82], 4), ([0xF0, 0x8F, 0xBF, 0xBF], 3),
        ([0xF4, 0x90, 0x80, 0x80], 3), ([0xF5, 0x80, 0x80, 0x80], 2), ([0xF0, 0x9F, 0x98], 5),
    ] as [([UInt8], Int)])
    func invalidBytesInAString(inside: [UInt8], offset: Int) {
        // `["` + the bytes + `"]`: the offset counts from the `[`.
        #expect(firstError([UInt8(ascii: "["), UInt8(ascii: "\"")] + inside + [UInt8(ascii: "\""), UInt8(ascii: "]")]) == offset)
    }

    @Test func otherEncodingsAreTold() {
        let utf8 = Array(#"{"a":1}"#.utf8)
        let utf16 = Array(#"{"a":1}"#.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        for (bytes, other) in [(utf8, false), ([0xEF, 0xBB, 0xBF] + utf8, true), ([0xFF, 0xFE] + utf16, true), (utf16, true)] {
            #expect(bytes.withUnsafeBytes { StrictJSON.isOtherEncoding($0) } == other)
            #expect((firstError(bytes) == nil) == !other)
        }
    }

    @Test func depthIsLimitedAsJSONDecoderLimitsIt() {
        func nested(_ depth: Int) -> String {
            // An object around depth - 1 arrays: `depth` containers open at the innermost.
            #"{"model":"m","x":"# + String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1) + "}"
        }
        let deepest = nested(StrictJSON.maxDepth)
        #expect(deepest.utf8.withContiguousStorageIfAvailable { StrictJSON.failure(in: UnsafeRawBufferPointer($0)) } == .some(nil))
        let tooDeep = nested(StrictJSON.maxDepth + 1)
        // The bracket that opens the 513th container: after `{"model":"m","x":` and 511 `[`.
        let failure = tooDeep.utf8.withContiguousStorageIfAvailable { StrictJSON.failure(in: UnsafeRawBufferPointer($0)) }
        #expect(failure == .some(StrictJSON.Failure(offset: 17 + 511, isTooDeep: true)))
        // Invalid text is not "too deep".
        #expect(Array("[1,]".utf8).withUnsafeBytes { StrictJSON.failure(in: $0) } == StrictJSON.Failure(offset: 3, isTooDeep: false))
    }
}
