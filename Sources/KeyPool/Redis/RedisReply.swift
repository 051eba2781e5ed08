/// One Redis reply, copied out of hiredis at once so no C memory outlives the read.
public enum RedisReply: Sendable, Hashable {
    case status(String)
    case error(String)
    case integer(Int64)
    /// A bulk string: binary-safe bytes.
    case bulk([UInt8])
    /// A nil bulk string or nil array.
    case null
    case array([RedisReply])
}

extension RedisReply {
    /// The reply as UTF-8 text for status and bulk replies; nil otherwise.
    public var string: String? {
        switch self {
        case .status(let s): return s
        case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    public var int: Int64? {
        if case .integer(let i) = self { return i }
        return nil
    }

    public var array: [RedisReply]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Returns the reply, or throws the server's error reply as a `RedisError`.
    public func checked() throws(RedisError) -> RedisReply {
        if case .error(let message) = self { throw RedisError.reply(message) }
        return self
    }
}
