#if canImport(Glibc)
import Glibc
#endif

/// Reads the names out of a buffer of `struct inotify_event`s, to tell the config file's events
/// from those of its neighbours: a log or a data file written in the same directory would
/// otherwise wake the watcher, and re-read and hash the config, on every write.
enum InotifyEvents {
    /// Whether any event in `bytes` may concern the config file named `fileName`: an event on
    /// that name, on a `..`-prefixed name (Kubernetes swaps `..data` to update a ConfigMap, and
    /// the file is a symlink through it), a queue overflow (events were lost), or bytes that do
    /// not parse.
    static func concern(_ bytes: [UInt8], fileName: String) -> Bool {
        let header = 16  // wd, mask, cookie, len: four 32-bit fields
        var offset = 0
        while offset + header <= bytes.count {
            let mask = field(bytes, offset + 4)
            let length = Int(field(bytes, offset + 12))
            guard offset + header + length <= bytes.count else { return true }
            if mask & UInt32(IN_Q_OVERFLOW) != 0 { return true }
            // The name is NUL-padded to an alignment boundary.
            let name = bytes[(offset + header)..<(offset + header + length)].prefix { $0 != 0 }
            let text = String(decoding: name, as: UTF8.self)
            if text == fileName || text.hasPrefix("..") { return true }
            offset += header + length
        }
        return offset != bytes.count
    }

    private static func field(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        // Native byte order: the kernel writes the struct as the machine lays it out.
        var value: UInt32 = 0
        withUnsafeMutableBytes(of: &value) { raw in
            for index in 0..<4 { raw[index] = bytes[at + index] }
        }
        return value
    }
}
