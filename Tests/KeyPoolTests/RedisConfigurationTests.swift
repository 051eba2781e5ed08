import KeyPool
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
}
