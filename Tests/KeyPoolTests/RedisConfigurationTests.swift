import NIOCore
@testable import KeyPool
import Testing

@Suite("Redis URL parsing and commands")
struct RedisConfigurationTests {
    @Test func tcpURLWithEverything() throws {
        let config = try RedisConfiguration(url: "redis://alice:p%40ss@cache.internal:6380/4?pool=8&timeout_ms=250&connect_timeout_ms=300")
        #expect(config.endpoint == .tcp(host: "cache.internal", port: 6380))
        #expect(config.username == "alice")
        #expect(config.password == "p@ss")
        #expect(config.database == 4)
        #expect(config.poolSize == 8)
        #expect(config.commandTimeout == .milliseconds(250))
        #expect(config.connectTimeout == .milliseconds(300))
        #expect(config.redactedDescription == "redis://alice:***@cache.internal:6380/4")
    }

    @Test func defaults() throws {
        let config = try RedisConfiguration(url: "redis://127.0.0.1")
        #expect(config.endpoint == .tcp(host: "127.0.0.1", port: 6379))
        #expect(config.username == nil)
        #expect(config.password == nil)
        #expect(config.database == 0)
        #expect(config.poolSize == RedisConfiguration.defaultPoolSize)
    }

    @Test func passwordOnly() throws {
        let config = try RedisConfiguration(url: "redis://:secret@localhost:6379/0")
        #expect(config.username == nil)
        #expect(config.password == "secret")
    }

    @Test func unixSocket() throws {
        let config = try RedisConfiguration(url: "unix:///run/redis/redis.sock?db=2")
        #expect(config.endpoint == .unix(path: "/run/redis/redis.sock"))
        #expect(config.database == 2)
        let plus = try RedisConfiguration(url: "redis+unix:///tmp/r.sock")
        #expect(plus.endpoint == .unix(path: "/tmp/r.sock"))
    }

    @Test(arguments: [
        ("http://localhost", "unsupported scheme 'http'"),
        ("rediss://localhost", "TLS (rediss://) is not supported"),
        ("redis://localhost/abc", "database 'abc' is not a non-negative integer"),
        ("redis://localhost?pool=0", "pool=0 must be an integer from 1 to 64"),
        ("redis://:hunter2@", "missing host"),
    ])
    func invalidURLs(url: String, expected: String) {
        #expect { try RedisConfiguration(url: url) } throws: { error in
            guard let error = error as? RedisError else { return false }
            return error.code == .invalidURL && error.message.contains(expected) && !error.message.contains("hunter2")
        }
    }

    @Test func scriptSHA1() {
        #expect(RedisScript("return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }

    @Test func commandArguments() {
        var command: RedisCommand = ["SET", "k"]
        command.append([0, 1, 2] as [UInt8])
        command.append(42)
        #expect(command.count == 4)
        #expect(command.arguments == [Array("SET".utf8), Array("k".utf8), [0, 1, 2], Array("42".utf8)])
    }

    /// What goes on the wire, byte for byte: integers are formatted without a String, so every
    /// sign and digit count is checked against Swift's own formatting.
    @Test func commandWireForm() {
        var command = RedisCommand("EVALSHA")
        command.append("")
        command.append(Array("a\r\nb".utf8))
        let numbers: [Int64] = [0, 7, -1, 9, 10, -10, 99, 100, 1_048_577, -1_048_577, .max, .min]
        for number in numbers { command.append(number) }
        var expected = "*\(3 + numbers.count)\r\n$7\r\nEVALSHA\r\n$0\r\n\r\n$4\r\na\r\nb\r\n"
        for number in numbers { expected += "$\(String(number).utf8.count)\r\n\(number)\r\n" }
        let resp = command.resp(ByteBufferAllocator())
        #expect(String(buffer: resp) == expected)
        #expect(command.arguments.dropFirst(3).map { String(decoding: $0, as: UTF8.self) } == numbers.map { String($0) })
        var packed = RedisCommand()
        packed.appendPacked([1.5, -2])
        #expect(packed.arguments == [withUnsafeBytes(of: (1.5).bitPattern.littleEndian, Array.init) + withUnsafeBytes(of: (-2.0).bitPattern.littleEndian, Array.init)])
        var joined = RedisCommand("A")
        joined.append(contentsOf: packed)
        #expect(joined.count == 2)
        #expect(joined.arguments == [Array("A".utf8)] + packed.arguments)
    }
}
