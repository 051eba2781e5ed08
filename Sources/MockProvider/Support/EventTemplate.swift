import Foundation
import NIOCore

/// A stream event encoded once with a slot for one string, so that each piece of a streamed
/// answer costs the encoding of its text only.
///
/// Encoding every event's envelope with JSONEncoder took over half the CPU of a streamed answer;
/// the envelopes of one stream differ only in the piece they carry.
struct EventTemplate {
    /// Put this string where the piece goes. The envelopes hold no request text before the
    /// slot (keys are sorted and the slot's key sorts first), so the first match is the slot.
    static let slot: JSONValue = .string(slotText)
    private static let slotText = "__mock_piece_slot__"
    private static let encodedSlot = Array("\"\(slotText)\"".utf8)

    private let prefix: [UInt8]
    private let suffix: [UInt8]

    /// - Parameter event: a full SSE event (from `SSE.data` or `SSE.event`) built with `slot`.
    init(_ event: ByteBuffer) {
        let bytes = Array(event.readableBytesView)
        guard let range = bytes.firstRange(of: Self.encodedSlot) else {
            preconditionFailure("event template has no slot")
        }
        prefix = Array(bytes[..<range.lowerBound])
        suffix = Array(bytes[range.upperBound...])
    }

    /// The event with `piece` (JSON-encoded) in the slot.
    func event(_ piece: String) -> ByteBuffer {
        let encoded = JSON.data(.string(piece))
        var buffer = ByteBuffer()
        buffer.reserveCapacity(prefix.count + encoded.count + suffix.count)
        buffer.writeBytes(prefix)
        buffer.writeBytes(encoded)
        buffer.writeBytes(suffix)
        return buffer
    }
}
