import CHiredis

extension RedisReply {
    /// Copies a hiredis reply tree into Swift values; the caller frees the C reply.
    init(copying reply: UnsafePointer<redisReply>) {
        switch Int(chiredis_reply_type(reply)) {
        case Int(CHIREDIS_REPLY_STRING):
            let length = chiredis_reply_len(reply)
            if length == 0 {
                self = .bulk([])
            } else {
                self = .bulk(Array(UnsafeRawBufferPointer(start: chiredis_reply_str(reply), count: length)))
            }
        case Int(CHIREDIS_REPLY_INTEGER):
            self = .integer(chiredis_reply_integer(reply))
        case Int(CHIREDIS_REPLY_STATUS):
            self = .status(Self.text(reply))
        case Int(CHIREDIS_REPLY_ERROR):
            self = .error(Self.text(reply))
        case Int(CHIREDIS_REPLY_ARRAY):
            let count = chiredis_reply_elements(reply)
            var elements: [RedisReply] = []
            elements.reserveCapacity(count)
            for index in 0..<count {
                elements.append(RedisReply(copying: chiredis_reply_element(reply, index)))
            }
            self = .array(elements)
        default:
            self = .null
        }
    }

    private static func text(_ reply: UnsafePointer<redisReply>) -> String {
        let length = chiredis_reply_len(reply)
        guard length > 0, let str = chiredis_reply_str(reply) else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: length), as: UTF8.self)
    }
}
