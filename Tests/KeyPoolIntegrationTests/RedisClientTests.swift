import Foundation
import KeyPool
import NIOCore
import NIOPosix
import Testing

@Suite("Redis client against a real redis-server", .timeLimit(.minutes(2)))
struct RedisClientTests {
    let server: RedisServer
    let client: RedisClient

    init() throws {
        server = try RedisServer()
        client = try RedisClient(url: server.url)
    }

    @Test("status, error, integer, bulk, nil and nested array replies")
    func replyTypes() async throws {
        #expect(try await client.send(["SET", "k", "v"]) == .status("OK"))
        #expect(try await client.send(["GET", "k"]) == .bulk(Array("v".utf8)))
        #expect(try await client.send(["GET", "missing"]) == .null)
        #expect(try await client.send(["INCRBY", "n", "-42"]) == .integer(-42))
        #expect(try await client.send(["SET", "empty", ""]) == .status("OK"))
        #expect(try await client.send(["GET", "empty"]) == .bulk([]))

        guard case .error(let message) = try await client.send(["NOSUCHCOMMAND"]) else {
            Issue.record("expected an error reply")
            return
        }
        #expect(message.hasPrefix("ERR unknown command"))

        // Lua false becomes a nil bulk reply; tables become arrays, nested to any depth.
        let nested = try await client.send(["EVAL", "return {1, 'a', {2, {'b', false}, {}}, redis.status_reply('FINE')}", "0"])
        #expect(nested == .array([
            .integer(1), .bulk(Array("a".utf8)),
            .array([.integer(2), .array([.bulk(Array("b".utf8)), .null]), .array([])]),
            .status("FINE"),
        ]))
        // A nil inside an array that is not at its end: MULTI/EXEC keeps it in place.
        // MULTI is per connection, so this part uses a pool of one.
        var single = try RedisConfiguration(url: server.url)
        single.poolSize = 1
        let one = RedisClient(configuration: single)
        #expect(try await one.send(["MULTI"]) == .status("OK"))
        #expect(try await one.send(["GET", "missing"]) == .status("QUEUED"))
        #expect(try await one.send(["GET", "k"]) == .status("QUEUED"))
        #expect(try await one.send(["EXEC"]) == .array([.null, .bulk(Array("v".utf8))]))
    }

    @Test("arguments and values are binary-safe: NUL bytes and a 1 MiB value")
    func binarySafe() async throws {
        let key: [UInt8] = [0x6B, 0x00, 0xFF, 0x0D, 0x0A, 0x00]
        let value: [UInt8] = [0x00, 0x01, 0x0D, 0x0A, 0x00, 0xFE, 0xFF, 0x24, 0x2A]
        var set = RedisCommand("SET")
        set.append(key)
        set.append(value)
        #expect(try await client.send(set) == .status("OK"))
        var get = RedisCommand("GET")
        get.append(key)
        #expect(try await client.send(get) == .bulk(value))

        // Every byte value, NULs and CR LF included, in an order that is not a simple cycle.
        let big = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ ($0 >> 8)) }
        var setBig = RedisCommand("SET", "big")
        setBig.append(big)
        #expect(try await client.send(setBig) == .status("OK"))
        #expect(try await client.send(["STRLEN", "big"]) == .integer(1 << 20))
        #expect(try await client.send(["GET", "big"]) == .bulk(big))
    }

    @Test("EVALSHA reloads the script transparently after SCRIPT FLUSH")
    func noscriptReload() async throws {
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        #expect(try await client.evalSHA(script, keys: ["counter"], arguments: ["5"]) == .integer(5))
        #expect(try await client.send(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(1)]))
        #expect(try await client.send(["SCRIPT", "FLUSH"]) == .status("OK"))
        #expect(try await client.send(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(0)]))
        #expect(try await client.evalSHA(script, keys: ["counter"], arguments: ["2"]) == .integer(7))
        #expect(try await client.send(["SCRIPT", "EXISTS", script.sha1]) == .array([.integer(1)]))
        // A script error comes back as an error reply, not as a reload loop.
        let failing = RedisScript("return redis.error_reply('BOOM no luck')")
        #expect(try await client.evalSHA(failing, keys: [], arguments: []) == .error("BOOM no luck"))
    }

    @Test("10,000 calls from 64 concurrent tasks each get exactly their own reply")
    func concurrentCallers() async throws {
        let perTask = 10_000 / 64 + 1
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<64 {
                group.addTask {
                    var wrong = 0
                    for call in 0..<perTask {
                        let payload = "task-\(task)-call-\(call)"
                        if try await client.send(["ECHO", payload]) != .bulk(Array(payload.utf8)) { wrong += 1 }
                        // Per-task counters prove order and count: INCR returns call + 1 exactly.
                        if try await client.send(["INCR", "task:\(task)"]) != .integer(Int64(call + 1)) { wrong += 1 }
                    }
                    return wrong
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
        var total: Int64 = 0
        for task in 0..<64 { total += try await client.send(["GET", "task:\(task)"]).string.flatMap { Int64($0) } ?? 0 }
        #expect(total == Int64(64 * perTask))
    }

    @Test("a caller on an event loop is served by that loop's own connection; callers off the loops share the first")
    func loopAffinity() async throws {
        var configuration = try RedisConfiguration(url: server.url)
        configuration.poolSize = 2
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loops = Array(group.makeIterator())
        let pooled = RedisClient(configuration: configuration, eventLoopGroup: group)
        func clientID(on loop: (any EventLoop)?) async throws -> Int64? {
            guard let loop else { return try await pooled.send(["CLIENT", "ID"]).int }
            return try await withTaskExecutorPreference(LoopExecutor(loop: loop)) {
                #expect(loop.inEventLoop)
                return try await pooled.send(["CLIENT", "ID"]).int
            }
        }
        // Until both connections are up, a loop whose own is not yet up borrows the other.
        try await eventually(within: 2) {
            let first = try? await clientID(on: loops[0])
            let second = try? await clientID(on: loops[1])
            return first != nil && second != nil && first != second
        }
        let first = try await clientID(on: loops[0])
        let second = try await clientID(on: loops[1])
        for _ in 0..<20 {
            #expect(try await clientID(on: loops[0]) == first)
            #expect(try await clientID(on: loops[1]) == second)
            #expect(try await clientID(on: nil) == first)
        }
        pooled.close()
        try await Task.sleep(for: .milliseconds(100))
        try await group.shutdownGracefully()
    }

    @Test("a command that outlives the command timeout fails with .timeout and the client recovers")
    func commandTimeout() async throws {
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .milliseconds(200)
        configuration.poolSize = 1
        let impatient = RedisClient(configuration: configuration)
        await #expect { try await impatient.send(["BLPOP", "never-filled", "2"]) } throws: { error in
            (error as? RedisError)?.code == .timeout
        }
        try await eventually(within: 2) { (try? await impatient.send(["PING"])) == .status("PONG") }
    }

    @Test("unix socket URL and SELECT of a database")
    func unixSocketAndDatabase() async throws {
        let unix = try RedisClient(url: "unix://\(server.socketPath)?db=3")
        #expect(try await unix.send(["SET", "where", "db3"]) == .status("OK"))
        let tcp3 = try RedisClient(url: server.url + "/3")
        #expect(try await tcp3.send(["GET", "where"]) == .bulk(Array("db3".utf8)))
        #expect(try await client.send(["GET", "where"]) == .null)
    }
}

/// Runs a test task's jobs on one event loop, as the gateway runs a lightly loaded request.
private final class LoopExecutor: TaskExecutor {
    let loop: any EventLoop

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
