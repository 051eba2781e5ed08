import CHiredis

/// A command in RESP wire form, formatted by hiredis on the caller's thread so the I/O thread
/// only copies bytes into its output buffer.
final class FormattedCommand: @unchecked Sendable {
    // @unchecked: the buffer is written once, by hiredis inside init, and only read afterwards
    // (by the single I/O thread that appends it); deinit frees it exactly once.
    let pointer: UnsafeMutablePointer<CChar>
    let length: Int

    init(_ command: RedisCommand) throws(RedisError) {
        var target: UnsafeMutablePointer<CChar>?
        let count = command.lengths.count
        let formattedLength: Int64 = command.bytes.withUnsafeBufferPointer { buffer in
            // An all-empty command still needs valid argument pointers.
            let base = UnsafeRawPointer(buffer.baseAddress) ?? UnsafeRawPointer(bitPattern: 1)!
            return withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: count) { argv in
                var offset = 0
                for (index, length) in command.lengths.enumerated() {
                    argv[index] = (base + offset).assumingMemoryBound(to: CChar.self)
                    offset += length
                }
                return command.lengths.withUnsafeBufferPointer { lengths in
                    chiredis_format_argv(&target, Int32(count), argv.baseAddress, lengths.baseAddress)
                }
            }
        }
        guard formattedLength > 0, let target else {
            throw RedisError(.encoding, "hiredis could not format a command of \(count) arguments")
        }
        self.pointer = target
        self.length = Int(formattedLength)
    }

    deinit { chiredis_free_command(pointer) }
}
