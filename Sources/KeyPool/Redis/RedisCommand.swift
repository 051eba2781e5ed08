/// A Redis command as binary-safe arguments, kept in one contiguous buffer so formatting it
/// costs one pass and no per-argument allocation.
public struct RedisCommand: Sendable, ExpressibleByArrayLiteral {
    @usableFromInline var bytes: [UInt8] = []
    @usableFromInline var lengths: [Int] = []

    public init(_ arguments: String...) {
        bytes.reserveCapacity(64)
        for argument in arguments { append(argument) }
    }

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
