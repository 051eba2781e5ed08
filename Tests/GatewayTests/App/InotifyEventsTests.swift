import Testing

@testable import Gateway

@Suite("inotify events: only the config's own name (or a ConfigMap swap) wakes a reload")
struct InotifyEventsTests {
    /// One `struct inotify_event` as the kernel writes it: the name NUL-padded to 16 bytes.
    func event(_ name: String, mask: UInt32 = 0x2) -> [UInt8] {
        var padded = Array(name.utf8)
        padded += [UInt8](repeating: 0, count: 16 - padded.count % 16)
        var bytes: [UInt8] = []
        for value in [UInt32(1), mask, 0, UInt32(padded.count)] {
            withUnsafeBytes(of: value) { bytes += $0 }
        }
        return bytes + padded
    }

    @Test func neighboursAreIgnored() {
        #expect(!InotifyEvents.concern(event("perf.data") + event("gateway.log"), fileName: "config.json"))
        #expect(!InotifyEvents.concern(event("config.json.bak"), fileName: "config.json"))
        #expect(!InotifyEvents.concern([], fileName: "config.json"))
    }

    @Test func theConfigOrAConfigMapSwapCounts() {
        #expect(InotifyEvents.concern(event("gateway.log") + event("config.json"), fileName: "config.json"))
        #expect(InotifyEvents.concern(event("..data"), fileName: "config.json"))
        #expect(InotifyEvents.concern(event("..2026_11_23_04_00_00.123456"), fileName: "config.json"))
    }

    @Test func overflowOrGarbageCountsSoNothingIsMissed() {
        #expect(InotifyEvents.concern(event("x", mask: 0x4000), fileName: "config.json"))  // IN_Q_OVERFLOW
        #expect(InotifyEvents.concern(Array(event("gateway.log").prefix(20)), fileName: "config.json"))
    }
}
