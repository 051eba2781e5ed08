import ArgumentParser
import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1

/// `proxy-floor`: a pass-through with none of the gateway's logic, for `make bench`.
///
/// `--mode proxy` reads the body, sends it to `--upstream` through AsyncHTTPClient configured as
/// the gateway's upstream client was before it got its own (pool size, no retries of connects),
/// and relays the answer; `--mode static` answers a fixed body from Hummingbird alone. Measured
/// beside nginx and the gateway in the same run, they tell how much of the gateway's cost is the
/// libraries and how much its own work (auth, routing, key pool, logging, metrics).
@main
struct ProxyFloor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy-floor",
        abstract: "A Hummingbird + AsyncHTTPClient pass-through proxy with no logic (benchmark floor)."
    )

    @Option(help: "Port to listen on") var port: Int
    @Option(help: "Upstream chat completions URL (proxy mode)") var upstream = ""
    @Option(help: "proxy or static") var mode = "proxy"
    @Option(help: "Upstream connections per host") var connections = 256

    func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .disabled
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let router = Router()
        router.get("/health") { _, _ in "ok" }
        let upstream = upstream
        let fixed = ByteBuffer(string: #"{"id":"x","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#)
        if mode == "static" {
            router.post("/v1/chat/completions") { request, _ -> Response in
                _ = try await request.body.collect(upTo: 1 << 20)
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: fixed))
            }
        } else {
            router.post("/v1/chat/completions") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 1 << 20)
                var forward = HTTPClientRequest(url: upstream)
                forward.method = .POST
                forward.headers.add(name: "Authorization", value: "Bearer floor-key")
                forward.headers.add(name: "Content-Type", value: "application/json")
                forward.body = .bytes(body)
                let answer = try await client.execute(forward, timeout: .seconds(30))
                let bytes = try await answer.body.collect(upTo: 1 << 24)
                return Response(
                    status: HTTPResponse.Status(code: Int(answer.status.code)),
                    headers: [.contentType: answer.headers.first(name: "content-type") ?? "application/json"],
                    body: .init(byteBuffer: bytes))
            }
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await app.runService()
        try await client.shutdown()
    }
}
