import Foundation
import KeyPool
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway `redis-server` on a free loopback port, started and stopped by the test itself.
///
/// Tests never mock Redis: they run against this real server. A missing `redis-server` fails the
/// test (run `make test`, which installs it) instead of skipping it.
final class RedisServer: @unchecked Sendable {
    // @unchecked: `pid` is only read and written under `lock`.
    private let lock = NSLock()
    private var pid: pid_t = 0
    let port: Int
    let extraArguments: [String]
    let socketPath: String
    /// The server's log: read back when it dies at start-up, to say why.
    let logPath: String

    init(port: Int? = nil, arguments: [String] = []) throws {
        self.port = try port ?? Self.freePort()
        self.extraArguments = arguments
        self.socketPath = NSTemporaryDirectory() + "gw-redis-\(self.port)-\(getpid()).sock"
        self.logPath = NSTemporaryDirectory() + "gw-redis-\(self.port)-\(getpid()).log"
        try start()
    }

    /// Ports this test process has handed out: the kernel may give a closed port to the next
    /// caller, and tests run in parallel.
    private static let handedOut = Mutex(Set<Int>())

    deinit { stop() }

    var url: String { "redis://127.0.0.1:\(port)" }

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["REDIS_SERVER_BIN"], !path.isEmpty { return path }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = "\(dir)/redis-server"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return "/usr/bin/redis-server"
    }

    /// Starts redis-server with posix_spawn (Foundation's Process can hang in waitUntilExit on
    /// Linux when called off the main thread) and waits until it accepts connections.
    func start() throws {
        let binary = Self.binary
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestFailure("redis-server not found at \(binary): run `make test`, which installs it")
        }
        let arguments = [
            binary, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--unixsocket", socketPath, "--unixsocketperm", "700", "--logfile", logPath,
        ] + extraArguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        // The child inherits the spawning thread's signal mask; libdispatch's worker threads
        // block SIGTERM, so reset the mask or redis-server would ignore stop().
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        // Tests run in parallel: without this the child would inherit whatever descriptors other
        // threads hold open at that instant, such as `canBind`'s probe of another test's port,
        // and keep that port bound for its whole life, so the other server cannot start.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        Self.closeFrom(&actions, 3)
        var child: pid_t = 0
        let status = posix_spawn(&child, binary, &actions, &attributes, &argv, environ)
        guard status == 0 else { throw TestFailure("posix_spawn redis-server failed: \(status)") }
        lock.withLock { pid = child }
        try waitUntilAccepting()
    }

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+), which Swift's Glibc module does
    /// not declare: found at run time, so an older libc only loses the protection.
    private static func closeFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ fd: Int32) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return }
        _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(actions, fd)
    }

    /// SIGKILL: the server vanishes mid-conversation, as in a crash.
    func kill() { signalAndReap(SIGKILL) }

    func stop() {
        signalAndReap(SIGTERM)
        unlink(socketPath)
        unlink(logPath)
    }

    private func signalAndReap(_ signal: Int32) {
        lock.withLock {
            guard pid > 0 else { return }
            Glibc.kill(pid, signal)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            pid = 0
        }
    }

    private func waitUntilAccepting() throws {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if Self.answers(port: port) { return }
            // A server that died (port taken after all) would never accept: say so at once.
            let exited = lock.withLock { () -> Bool in
                var status: Int32 = 0
                guard pid > 0, waitpid(pid, &status, WNOHANG) == pid else { return false }
                pid = 0
                return true
            }
            if exited {
                let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                let why = log.split(separator: "\n").suffix(3).joined(separator: " | ")
                throw TestFailure("redis-server exited at start-up on port \(port): \(why)")
            }
            usleep(10_000)
        }
        throw TestFailure("redis-server did not accept connections on port \(port) within 20 s")
    }

    /// Whether the server answers a PING (with PONG, or NOAUTH when it needs a password). A
    /// TCP connect alone succeeds as soon as the port listens, before redis-server has bound
    /// its Unix socket or entered its event loop: the Unix-socket test then found nobody there.
    static func answers(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard withLoopback(port: port, { connect(fd, $0, $1) }) == 0 else { return false }
        let ping = Array("PING\r\n".utf8)
        guard write(fd, ping, ping.count) == ping.count else { return false }
        var reply = [UInt8](repeating: 0, count: 64)
        let read = recv(fd, &reply, reply.count, 0)
        return read > 0 && (reply[0] == UInt8(ascii: "+") || reply[0] == UInt8(ascii: "-"))
    }

    /// Asks the kernel for a free loopback port not yet handed out in this process.
    static func freePort() throws -> Int {
        for _ in 0..<50 {
            let port = try kernelPort()
            let fresh = handedOut.withLock { $0.insert(port).inserted }
            if fresh { return port }
        }
        throw TestFailure("no fresh loopback port after 50 tries")
    }

    /// A free loopback port outside the kernel's ephemeral range. Tests stop redis-server and
    /// start it again on the same port while the client keeps reconnecting; a port inside the
    /// ephemeral range can be taken meanwhile by one of those very connect attempts (a TCP
    /// self-connect: source port = destination port), and the restarted server cannot bind.
    private static func kernelPort() throws -> Int {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))?
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) } ?? []
        let (low, high) = range.count == 2 ? (range[0], range[1]) : (32768, 60999)
        let candidates = low > 12_000 ? 10_000..<low : (high + 1)..<65_536
        for _ in 0..<200 {
            let port = Int.random(in: candidates)
            if canBind(port: port) { return port }
        }
        throw TestFailure("no free loopback port outside the ephemeral range")
    }

    private static func canBind(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return withLoopback(port: port) { bind(fd, $0, $1) } == 0
    }

    /// Calls `body` with 127.0.0.1:`port` as a socket address and its length.
    private static func withLoopback(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `body` until it returns true or `seconds` pass; returns the time it took.
@discardableResult
func eventually(within seconds: Double, _ body: () async -> Bool) async throws -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    while clock.now - start < .milliseconds(Int(seconds * 1000)) {
        if await body() { return clock.now - start }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TestFailure("condition not met within \(seconds) s")
}
