import Foundation
import KeyPool
import Testing

@Suite("Redis outages and authentication", .timeLimit(.minutes(2)))
struct RedisOutageTests {
    @Test("redis-server killed mid-run: calls fail fast while it is down and succeed within 2 s of its restart")
    func killedMidRun() async throws {
        let server = try RedisServer()
        let client = try RedisClient(url: server.url)
        // Load running from 16 tasks while the server dies.
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        // Like a real caller, back off a little after a failure instead of spinning.
                        while !Task.isCancelled {
                            if (try? await client.send(["INCR", "load"])) == nil {
                                try? await Task.sleep(for: .milliseconds(5))
                            }
                        }
                    }
                }
            }
        }
        try await eventually(within: 5) {
            ((try? await client.send(["GET", "load"]))?.string).flatMap { Int($0) } ?? 0 > 100
        }
        server.kill()

        // Every call while it is down fails with a connection error, well before the 2 s
        // command timeout: nothing waits for a server that is not there.
        let clock = ContinuousClock()
        for _ in 0..<20 {
            let start = clock.now
            await #expect {
                try await client.send(["PING"])
            } throws: { error in
                (error as? RedisError)?.isConnectionError == true
            }
            #expect(clock.now - start < .milliseconds(500))
        }
        // Right after the loss lastError may still read "connection lost"; the first reconnect
        // attempt, moments later, turns it into "unavailable" with the connect error.
        try await eventually(within: 2) { client.lastError?.code == .unavailable }
        #expect(client.lastError?.message.contains("127.0.0.1:\(server.port)") == true)
        #expect(!client.isConnected)

        try server.start()
        let took = try await eventually(within: 2) { (try? await client.send(["PING"])) == .status("PONG") }
        print("redis client recovered \(took) after redis-server restarted")
        load.cancel()
        await load.value
        #expect(client.isConnected)
    }

    @Test("Redis down at start-up: calls fail fast, then work once it starts")
    func downAtStartup() async throws {
        let port = try RedisServer.freePort()
        let client = try RedisClient(url: "redis://127.0.0.1:\(port)")
        try await eventually(within: 2) { client.lastError != nil }
        await #expect { try await client.send(["PING"]) } throws: { error in
            guard let error = error as? RedisError else { return false }
            return error.code == .unavailable && error.message.contains("127.0.0.1:\(port)")
        }
        let server = try RedisServer(port: port)
        try await eventually(within: 2) { (try? await client.send(["PING"])) == .status("PONG") }
        server.stop()
    }

    @Test("a server turned replica (a failover's old primary): the connection goes down, reconnects are refused while it is a replica, and it serves again once it is a primary", arguments: [1, 3])
    func turnedReplica(pool: Int) async throws {
        let server = try RedisServer()
        // The admin connection sends no writes, so it stays up through the whole test.
        let admin = try RedisClient(url: server.url)
        // With a pool, the connections that met no refusal must not make the client look up.
        let client = try RedisClient(url: server.url + "?pool=\(pool)")
        #expect(try await admin.send(["PING"]) == .status("PONG"))
        #expect(try await client.send(["SET", "k", "1"]) == .status("OK"))

        #expect(try await admin.send(["REPLICAOF", "127.0.0.1", "1"]) == .status("OK"))
        // The refusal reaches its caller as the server's reply, then takes the connection down.
        let refused = try await client.send(["SET", "k", "2"])
        guard case .error(let message) = refused else {
            Issue.record("expected READONLY, got \(refused)")
            return
        }
        #expect(message.hasPrefix("READONLY"))
        // The client as a whole is down at once, although the other pooled connections met no
        // refusal yet.
        try await eventually(within: 2) { !client.isConnected }
        #expect(client.lastError?.code == .notServing)
        // It stays down: each reconnect finds a replica (ROLE) and is refused, however long it
        // is left alone. Writes on the connections still open meet READONLY and take them down
        // too; then calls fail at once.
        try await eventually(within: 2) {
            for _ in 0..<pool { _ = try? await client.send(["SET", "k", "2"]) }
            return (try? await client.send(["GET", "k"])) == nil
        }
        try await Task.sleep(for: .seconds(1.2))
        #expect(!client.isConnected)
        #expect(client.lastError?.code == .notServing)
        #expect(client.lastError?.message.contains("is a replica") == true)
        await #expect { try await client.send(["GET", "k"]) } throws: { error in
            (error as? RedisError)?.code == .notServing
        }

        #expect(try await admin.send(["REPLICAOF", "NO", "ONE"]) == .status("OK"))
        try await eventually(within: 2) { client.isConnected }
        try await eventually(within: 2) { (try? await client.send(["SET", "k", "3"])) == .status("OK") }
        #expect(try await admin.send(["GET", "k"]).string == "3")
    }

    @Test("a refusal in the middle of a pipeline: the replies read behind it reach their callers before the connection goes down")
    func refusalMidPipeline() async throws {
        let server = try RedisServer()
        let admin = try RedisClient(url: server.url)
        let client = try RedisClient(url: server.url)
        #expect(try await client.send(["SET", "a", "1"]) == .status("OK"))
        #expect(try await client.send(["SET", "b", "2"]) == .status("OK"))
        // Out of memory: writes are refused with OOM (a refusal to serve), reads still answer.
        #expect(try await admin.send(["CONFIG", "SET", "maxmemory-policy", "noeviction"]) == .status("OK"))
        #expect(try await admin.send(["CONFIG", "SET", "maxmemory", "1"]) == .status("OK"))

        // BLPOP holds the connection's later commands in the server for a second, so the refused
        // write and the two reads behind it are answered together, in one read. The test waits
        // until the server holds it: under load a task may start late, and a write sent before
        // BLPOP would take the connection down ahead of it.
        let blocker = Task { try await client.send(["BLPOP", "nothing", "1"]) }
        try await eventually(within: 5) {
            (try? await admin.send(["INFO", "clients"]))?.string?.contains("blocked_clients:1") == true
        }
        let write = Task { try await client.send(["SET", "c", "3"]) }
        try await Task.sleep(for: .milliseconds(20))
        let readA = Task { try await client.send(["GET", "a"]) }
        try await Task.sleep(for: .milliseconds(20))
        let readB = Task { try await client.send(["GET", "b"]) }

        #expect(try await blocker.value == .null)
        let refused = try await write.value
        guard case .error(let message) = refused else {
            Issue.record("expected OOM, got \(refused)")
            return
        }
        #expect(message.hasPrefix("OOM"))
        // Before: both reads failed with the OOM error, as if the connection had been lost
        // before they ran.
        #expect(try await readA.value.string == "1")
        #expect(try await readB.value.string == "2")
        // The refusal still takes the connection down; it comes back by itself (PING passes the
        // serving check while only writes are refused).
        try await eventually(within: 2) { (try? await client.send(["GET", "a"]))?.string == "1" }
    }

    @Test("a wrong password gives a clear authentication error; the right one works")
    func authentication() async throws {
        let server = try RedisServer(arguments: ["--requirepass", "s3cret-pass"])
        let wrong = try await refusal(of: RedisClient(url: "redis://:not-it@127.0.0.1:\(server.port)"))
        #expect(wrong?.code == .authentication)
        #expect(wrong?.message.contains("WRONGPASS") == true)
        #expect(wrong.map { !$0.message.contains("not-it") && !$0.description.contains("not-it") } == true)
        // No password for a server that needs one: refused at connect, saying so.
        let missing = try await refusal(of: RedisClient(url: server.url))
        #expect(missing?.code == .authentication)
        #expect(missing.map { $0.message.contains("needs a password") && $0.message.contains("NOAUTH") } == true)

        let right = try RedisClient(url: "redis://:s3cret-pass@127.0.0.1:\(server.port)")
        #expect(try await right.send(["PING"]) == .status("PONG"))
        // Redis 6+ ACL form: user and password.
        let withUser = try RedisClient(url: "redis://default:s3cret-pass@127.0.0.1:\(server.port)/2")
        #expect(try await withUser.send(["PING"]) == .status("PONG"))
    }

    @Test("a database number beyond the server's is a database error, not an authentication one")
    func databaseOutOfRange() async throws {
        let server = try RedisServer(arguments: ["--databases", "4"])
        let beyond = try await refusal(of: RedisClient(url: "\(server.url)/4"))
        #expect(beyond?.code == .database && beyond?.isConnectionError == true)
        #expect(beyond.map { $0.message.contains("SELECT 4") && $0.message.contains("DB index is out of range") } == true)
        let last = try RedisClient(url: "\(server.url)/3")
        #expect(try await last.send(["PING"]) == .status("PONG"))
    }

    /// What a call fails with once `client` has tried to connect and been refused (nil when
    /// the call succeeds, or fails with another kind of error).
    func refusal(of client: RedisClient) async throws -> RedisError? {
        try await eventually(within: 2) { client.lastError != nil }
        do {
            _ = try await client.send(["PING"])
            return nil
        } catch {
            return error as? RedisError
        }
    }
}
