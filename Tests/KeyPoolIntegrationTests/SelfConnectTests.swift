import CHiredis
import Foundation
import Testing

/// The guard in `chiredis_connect_tcp`: a socket that connected to itself (what a connect to an
/// unused local port in the ephemeral range sometimes does) must not pass for a Redis server.
@Suite("Redis client: self-connected sockets")
struct SelfConnectTests {
    /// A TCP socket bound to 127.0.0.1 on a port the kernel picks.
    func boundSocket() throws -> (fd: Int32, address: sockaddr_in) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                try #require(bind(fd, raw, length) == 0)
                try #require(getsockname(fd, raw, &length) == 0)
            }
        }
        return (fd, address)
    }

    func connect(_ fd: Int32, to address: sockaddr_in) -> Int32 {
        var address = address
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    @Test func aSocketConnectedToItselfIsDetected() throws {
        let (fd, address) = try boundSocket()
        defer { close(fd) }
        // Connecting to its own address is the simultaneous open the guard exists for.
        try #require(connect(fd, to: address) == 0)
        #expect(chiredis_is_self_connected(fd) == 1)
    }

    @Test func aSocketConnectedToAListenerIsNot() throws {
        let (listener, address) = try boundSocket()
        defer { close(listener) }
        try #require(listen(listener, 1) == 0)
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        try #require(connect(client, to: address) == 0)
        #expect(chiredis_is_self_connected(client) == 0)
        #expect(chiredis_is_self_connected(-1) == 0)  // not a socket: no claim either way
    }
}
