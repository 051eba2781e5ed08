/// A Redis command as binary-safe arguments, kept in one contiguous buffer so formatting it
/// costs one pass and no per-argument allocation.
public struct RedisCommand: Sendable, ExpressibleByArrayLiteral {
    @usableFromInline var bytes: [UInt8] = []
    @usableFromInline var lengths: [Int] = []

    public init(_ arguments: String...) {
        bytes.reserveCapacity(64)
        for argument in arguments { append(argument) }
    }

    /// An empty argument list, for building arguments to pass on (as to `evalSHA`).
    public init() {}

    public init(arrayLiteral elements: String...) {
        for element in elements { append(element) }
    }

    public var count: Int { lengths.count }

    @inlinable
    public mutating func append(_ argument: String) {
        var argument = argument
        argument.withUTF8 { utf8 in
            bytes.append(contentsOf: utf8)
            lengths.append(utf8.count)
        }
    }

    @inlinable
    public mutating func append(_ argument: some Collection<UInt8>) {
        bytes.append(contentsOf: argument)
        lengths.append(argument.count)
    }

    @inlinable
    public mutating func append(_ argument: Int) {
        append(String(argument))
    }

    @inlinable
    public mutating func append(_ argument: Int64) {
        append(String(argument))
    }

    /// Appends every argument of `other`.
    public mutating func append(contentsOf other: RedisCommand) {
        bytes.append(contentsOf: other.bytes)
        lengths.append(contentsOf: other.lengths)
    }

    /// Appends doubles packed little-endian in one argument: what Lua's
    /// `struct.unpack('<dd...', ARGV[i])` reads without parsing text.
    public mutating func appendPacked(_ values: [Double]) {
        var packed: [UInt8] = []
        packed.reserveCapacity(values.count * 8)
        for value in values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { packed.append(contentsOf: $0) }
        }
        append(packed)
    }

    /// The arguments as separate byte arrays (for tests and diagnostics; not the hot path).
    public var arguments: [[UInt8]] {
        var result: [[UInt8]] = []
        var offset = 0
        for length in lengths {
            result.append(Array(bytes[offset..<offset + length]))
            offset += length
        }
        return result
    }
}
