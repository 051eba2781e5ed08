import Foundation
import KeyPool
import Logging
import Testing

@testable import Gateway

@Suite("Log lines")
struct LogLineTests {
    /// 2026-11-23T10:04:05.123Z
    let moment = Date(timeIntervalSince1970: 1_795_428_245.123)

    func json(_ message: String = "request", _ metadata: Logger.Metadata = [:]) -> String {
        String(decoding: GatewayLogHandler.jsonLine(
            level: .info, label: "gateway", message: message, metadata: metadata, now: moment), as: UTF8.self)
    }

    @Test func fixedKeysComeFirstThenSortedMetadata() {
        #expect(json("request", ["status": "200", "endpoint": "/v1/models"]) == """
            {"ts":"2026-11-23T10:04:05.123Z","level":"info","logger":"gateway","msg":"request","endpoint":"/v1/models","status":"200"}

            """)
    }

    @Test func numbersBooleansAndNullStayJSONValues() throws {
        let line = json("request", [
            "status": .stringConvertible(429), "stream": .stringConvertible(true),
            "total_ms": .stringConvertible(1.23456), "attempts": .stringConvertible(Int64(2)),
            "whole_ms": .stringConvertible(3.0), "key_id": .stringConvertible(JSONText.Raw(json: "null")),
        ])
        #expect(line.hasSuffix(#","attempts":2,"key_id":null,"status":429,"stream":true,"total_ms":1.235,"whole_ms":3}"# + "\n"))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(parsed["status"] as? Int == 429)
        #expect(parsed["key_id"] is NSNull)
    }

    @Test func stringsAreEscaped() throws {
        let hostile = "quote \" backslash \\ newline \n tab \t bell \u{07} é"
        let line = json(hostile, ["error": .string(hostile), "nested": .dictionary(["b": "x", "a": .array(["1", "\""])])])
        #expect(line.filter { $0 == "\n" }.count == 1)  // one line, whatever the message holds
        #expect(line.contains(#""msg":"quote \" backslash \\ newline \n tab \t bell \u0007 é""#))
        #expect(line.contains(#""nested":{"a":["1","\""],"b":"x"}"#))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(parsed["msg"] as? String == hostile)
        #expect(parsed["error"] as? String == hostile)
    }

    @Test func metadataCannotOverwriteTheFixedKeys() throws {
        let line = json("request", ["msg": "forged", "level": "critical", "ts": "0"])
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(parsed["msg"] as? String == "request")
        #expect(parsed["level"] as? String == "info")
        #expect(parsed.count == 4)
    }

    @Test func textLinesAreOneLineWithSortedMetadata() {
        let line = String(decoding: GatewayLogHandler.textLine(
            level: .warning, label: "gateway.reload", message: "config rejected",
            metadata: ["reason": "bad json", "path": "config.json"], now: moment), as: UTF8.self)
        #expect(line == "2026-11-23T10:04:05.123Z warning gateway.reload: config rejected path=config.json reason=bad json\n")
    }

    @Test func timestampsArePaddedAndTruncatedToMilliseconds() {
        var out: [UInt8] = []
        Timestamp.append(Date(timeIntervalSince1970: 0.0019), to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "1970-01-01T00:00:00.001Z")
    }
}

@Suite("Log handler and writer")
struct LogHandlerTests {
    /// A writer into a pipe, and a way to read what it wrote.
    func pipeWriter(limit: Int = 1 << 20) throws -> (LogWriter, () -> String) {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        let writer = LogWriter(fileDescriptor: fds[1], limit: limit)
        return (writer, {
            writer.flush()
            close(fds[1])
            return String(decoding: FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile(), as: UTF8.self)
        })
    }

    @Test func eventMetadataWinsOverTheLoggersOwn() throws {
        let (writer, output) = try pipeWriter()
        let settings = LogSettings(LoggingConfig())
        var logger = Logger(label: "gateway") { GatewayLogHandler(label: $0, settings: settings, writer: writer) }
        logger[metadataKey: "request_id"] = "r-1"
        logger[metadataKey: "field"] = "from-logger"
        logger.info("request", metadata: ["field": "from-event", "status": .stringConvertible(200)])
        logger.debug("below the level")
        let lines = output().split(separator: "\n")
        try #require(lines.count == 1)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(parsed["request_id"] as? String == "r-1")
        #expect(parsed["field"] as? String == "from-event")
        #expect(parsed["status"] as? Int == 200)
    }

    @Test func linesPastTheLimitAreDroppedAndCounted() throws {
        let (writer, output) = try pipeWriter(limit: 0)
        writer.write(Array("a line\n".utf8))
        writer.write(Array("another\n".utf8))
        #expect(writer.droppedLines == 2)
        #expect(output() == "")
    }
}
