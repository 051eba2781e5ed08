import Foundation
import Testing

@testable import Gateway

@Suite("Metrics: bounded model labels")
struct MetricsLabelTests {
    /// The `model` values of a series in the registry's text output.
    func models(_ metrics: GatewayMetrics, series: String) -> Set<String> {
        let lines = String(decoding: metrics.exposition(), as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix(series + "{") }
        return Set(lines.compactMap { line in
            line.range(of: #"model=""#).map { start in String(line[start.upperBound...].prefix { $0 != "\"" }) }
        })
    }

    @Test func modelNamesPastTheLimitAreCountedAsOther() {
        let metrics = GatewayMetrics()
        let limit = GatewayMetrics.modelLabelLimit
        // A client making up names a glob serves (`gpt-<anything>`): each a new label value.
        for index in 0..<(limit + 50) {
            metrics.tokens(provider: "p", model: "gpt-\(index)", input: 1, output: 1)
            metrics.upstreamTry(provider: "p", model: "gpt-\(index)", outcome: "ok", seconds: 0.01)
        }
        // A name admitted before keeps its own series.
        metrics.tokens(provider: "p", model: "gpt-0", input: 5, output: 5)
        let expected = Set((0..<limit).map { "gpt-\($0)" } + ["other"])
        #expect(models(metrics, series: "gateway_tokens_total") == expected)
        #expect(models(metrics, series: "gateway_upstream_requests_total") == expected)
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(text.contains(#"gateway_tokens_total{provider="p",model="other",direction="input"} 50"#))
        #expect(text.contains(#"gateway_tokens_total{provider="p",model="gpt-0",direction="input"} 6"#))
    }
}
