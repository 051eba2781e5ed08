import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `stream-bench`: holds N streamed chat completions open at once against one URL (mock-provider,
/// nginx or the gateway) and measures, per stream, the time to the first SSE event and the gaps
/// between events; prints one JSON object. Driven by `make bench` (bench/run_bench.py).
///
/// Written in Swift on AsyncHTTPClient because a Python client cannot read 1,000 streams of 64
/// events 20 ms apart (about 50,000 events a second) without becoming the bottleneck it measures.
@main
struct StreamBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream-bench",
        abstract: "Concurrent SSE streams: time to first event, gaps between events, stalls."
    )

    @Option(help: "Chat completions URL") var url: String
    @Option(help: "Bearer key") var key: String
    @Option(help: "Streams held open at once") var streams = 64
    @Option(help: "Rounds: each opens `streams` streams and waits for all of them") var rounds = 1
    @Option(help: "A gap between two events longer than this (ms) counts as a stall") var stallMillis = 250.0
    @Option(help: "Model name in the request") var model = "mock-model"

    func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(streams * 2, 64)
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let body = ByteBuffer(string: #"{"model":"\#(model)","stream":true,"messages":[{"role":"user","content":"Stream something for the benchmark."}]}"#)
        var all: [StreamResult] = []
        for _ in 0..<rounds {
            all += await withTaskGroup(of: StreamResult.self) { group -> [StreamResult] in
                for _ in 0..<streams {
                    group.addTask { await Self.stream(client: client, url: url, key: key, body: body) }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
        try await client.shutdown()
        print(Summary(all, stallMillis: stallMillis, streams: streams).json())
    }

    /// One stream: the instants its events arrived, relative to the request's start.
    static func stream(client: HTTPClient, url: String, key: String, body: ByteBuffer) async -> StreamResult {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(body)
        let start = ContinuousClock.now
        var events: [Double] = []
        var done = false
        var tail: [UInt8] = []
        do {
            let response = try await client.execute(request, timeout: .seconds(60))
            guard response.status == .ok else { return StreamResult(status: Int(response.status.code), events: [], done: false) }
            for try await chunk in response.body {
                let at = (ContinuousClock.now - start).milliseconds
                // Events end with a blank line; count the ends seen in this chunk (an event split
                // across chunks counts when its end arrives).
                tail += chunk.readableBytesView
                var index = tail.startIndex
                var last = 0
                while index + 1 < tail.endIndex {
                    if tail[index] == 10 && tail[index + 1] == 10 {
                        let event = tail[last..<index]
                        if event.starts(with: Array("data: [DONE]".utf8)) { done = true } else { events.append(at) }
                        last = index + 2
                        index += 2
                    } else {
                        index += 1
                    }
                }
                tail.removeFirst(last)
            }
            return StreamResult(status: 200, events: events, done: done)
        } catch {
            return StreamResult(status: 0, events: events, done: false)
        }
    }
}

struct StreamResult: Sendable {
    let status: Int
    /// Milliseconds from the request's start to each data event (not counting [DONE]).
    let events: [Double]
    let done: Bool
}

struct Summary {
    var fields: [String: Any] = [:]

    init(_ results: [StreamResult], stallMillis: Double, streams: Int) {
        let complete = results.filter { $0.status == 200 && $0.done }
        let first = complete.compactMap(\.events.first).sorted()
        var gaps: [Double] = []
        var stalled = 0
        for result in complete {
            let stream = zip(result.events.dropFirst(), result.events).map { $0 - $1 }
            if stream.contains(where: { $0 > stallMillis }) { stalled += 1 }
            gaps += stream
        }
        gaps.sort()
        fields = [
            "streams": streams, "requests": results.count, "completed": complete.count,
            "failed": results.count - complete.count, "stalled": stalled,
            "events_per_stream": complete.map(\.events.count).min() ?? 0,
            "ttfe_p50_ms": Self.percentile(first, 0.5), "ttfe_p99_ms": Self.percentile(first, 0.99),
            "gap_p50_ms": Self.percentile(gaps, 0.5), "gap_p99_ms": Self.percentile(gaps, 0.99),
            "gap_max_ms": gaps.last ?? 0,
            "duration_p50_ms": Self.percentile(complete.compactMap(\.events.last).sorted(), 0.5),
        ]
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    func json() -> String {
        let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
