import Foundation
import HTTPTypes

extension Faults {
    /// Header names are built once: creating `HTTPField.Name` validates the string each time.
    private enum Header {
        static let latency = HTTPField.Name("x-mock-latency-ms")!
        static let jitter = HTTPField.Name("x-mock-jitter-ms")!
        static let ttfb = HTTPField.Name("x-mock-ttfb-ms")!
        static let chunks = HTTPField.Name("x-mock-chunks")!
        static let chunkGap = HTTPField.Name("x-mock-chunk-gap-ms")!
        static let status = HTTPField.Name("x-mock-status")!
        static let errorRate = HTTPField.Name("x-mock-error-rate")!
        static let errorRandom = HTTPField.Name("x-mock-error-random")!
        static let retryAfter = HTTPField.Name("x-mock-retry-after")!
        static let cutAfter = HTTPField.Name("x-mock-cut-after-chunks")!
        static let stallAfter = HTTPField.Name("x-mock-stall-after-chunks")!
        static let streamErrorAfter = HTTPField.Name("x-mock-stream-error-after-chunks")!
        static let hang = HTTPField.Name("x-mock-hang")!
        static let keepaliveComments = HTTPField.Name("x-mock-keepalive-comments")!
    }

    /// The faults a request asks for through `x-mock-*` headers; nil when it sends none.
    ///
    /// Values that do not parse are ignored rather than rejected, so a typo never turns into a
    /// 400 that a test might mistake for an injected error.
    init?(headers: HTTPFields) {
        // Fast path: benchmark traffic carries no x-mock headers at all.
        guard headers.contains(where: { $0.name.canonicalName.hasPrefix("x-mock-") }) else { return nil }
        func int(_ name: HTTPField.Name) -> Int? { headers[name].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        self.init(
            latencyMs: int(Header.latency),
            jitterMs: int(Header.jitter),
            ttfbMs: int(Header.ttfb),
            chunks: int(Header.chunks),
            chunkGapMs: int(Header.chunkGap),
            status: int(Header.status),
            errorRate: headers[Header.errorRate].flatMap { Double($0.trimmingCharacters(in: .whitespaces)) },
            errorRandom: headers[Header.errorRandom].map { ["1", "true", "yes"].contains($0.lowercased()) },
            retryAfter: int(Header.retryAfter),
            cutAfterChunks: int(Header.cutAfter),
            stallAfterChunks: int(Header.stallAfter),
            streamErrorAfterChunks: int(Header.streamErrorAfter),
            hang: headers[Header.hang].map { ["1", "true", "yes"].contains($0.lowercased()) },
            keepaliveComments: int(Header.keepaliveComments)
        )
    }
}
