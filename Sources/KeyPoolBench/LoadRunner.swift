import Foundation

/// Runs a fixed number of calls from N concurrent tasks and records each call's latency.
enum LoadRunner {
    struct Result {
        var requests: Int
        var errors: Int
        var seconds: Double
        var latenciesNanos: [Int]

        var perSecond: Double { Double(requests) / seconds }

        func percentile(_ p: Double) -> Double {
            guard !latenciesNanos.isEmpty else { return 0 }
            let index = min(latenciesNanos.count - 1, Int((Double(latenciesNanos.count) * p).rounded(.down)))
            return Double(latenciesNanos[index]) / 1_000
        }

        func json(_ labels: [String: any Sendable]) -> String {
            var object: [String: Any] = labels
            object["requests"] = requests
            object["errors"] = errors
            object["seconds"] = (seconds * 1000).rounded() / 1000
            object["per_second"] = perSecond.rounded()
            object["p50_us"] = (percentile(0.50) * 10).rounded() / 10
            object["p99_us"] = (percentile(0.99) * 10).rounded() / 10
            let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            return String(decoding: data, as: UTF8.self)
        }
    }

    static func run(concurrency: Int, requests: Int, call: @escaping @Sendable () async throws -> Void) async throws -> Result {
        let perTask = max(1, requests / concurrency)
        let clock = ContinuousClock()
        let start = clock.now
        let parts = await withTaskGroup(of: (errors: Int, latencies: [Int]).self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var latencies: [Int] = []
                    latencies.reserveCapacity(perTask)
                    var errors = 0
                    for _ in 0..<perTask {
                        let begin = clock.now
                        do { try await call() } catch { errors += 1 }
                        let (seconds, attoseconds) = (clock.now - begin).components
                        latencies.append(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
                    }
                    return (errors, latencies)
                }
            }
            var all: [(errors: Int, latencies: [Int])] = []
            for await part in group { all.append(part) }
            return all
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var latencies = parts.flatMap(\.latencies)
        latencies.sort()
        return Result(
            requests: perTask * concurrency,
            errors: parts.reduce(0) { $0 + $1.errors },
            seconds: seconds,
            latenciesNanos: latencies
        )
    }
}
