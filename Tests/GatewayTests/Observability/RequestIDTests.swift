import Testing

@testable import Gateway

@Suite("Request ids")
struct RequestIDTests {
    @Test(arguments: ["abc", "req-2026-11-23_01", "a/b:c=d", String(repeating: "x", count: 128)])
    func plausibleClientIDsAreKept(id: String) {
        #expect(RequestID.accepted(id) == id)
    }

    @Test(arguments: [
        "", " ", "has space", "quote\"", "back\\slash", "new\nline", "tab\t", "é", String(repeating: "x", count: 129),
    ])
    func implausibleClientIDsAreReplaced(id: String) {
        #expect(RequestID.accepted(id) == nil)
    }

    @Test func madeIDsAre32HexDigitsAndUnique() {
        let ids = (0..<100).map { _ in RequestID.make() }
        for id in ids {
            #expect(id.utf8.count == 32)
            #expect(id.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        }
        #expect(Set(ids).count == 100)
        // One random half per process (replicas differ there), then a sequence.
        #expect(Set(ids.map { $0.prefix(16) }).count == 1)
        #expect(ids[1].suffix(16) > ids[0].suffix(16))  // same length: text order is number order
    }
}
