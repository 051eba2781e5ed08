import HTTPTypes
import Hummingbird
import NIOCore

/// Writes a prepared answer the way the faults say: time to first byte, keep-alive comments
/// before a stream's first event, gaps between stream events, a cut connection, a stalled one,
/// or the provider's error event ending the stream.
enum Delivery {
    /// `streamError`: the dialect's error event, sent in place of the rest of a stream when
    /// `faults.streamErrorAfterChunks` is set.
    static func response(
        _ prepared: Prepared, headers: HTTPFields, faults: Faults, streamError: ByteBuffer? = nil, channel: any Channel
    ) -> Response {
        var headers = headers
        guard let events = prepared.events else {
            headers[.contentType] = "application/json"
            return json(prepared.body, headers: headers, faults: faults, channel: channel)
        }
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let paced = faults.ttfbMs != nil || faults.chunkGapMs != nil || faults.keepaliveComments != nil
            || faults.cutAfterChunks != nil || faults.stallAfterChunks != nil || faults.streamErrorAfterChunks != nil
        if !paced {
            // No timing asked for: hand every event to the channel in one write (still a chunked
            // stream), which is several times cheaper than one write and flush per event.
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                try await writer.write(contentsOf: events)
                try await writer.finish(nil)
            })
        }
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            await Delay.milliseconds(faults.ttfbMs)
            // Each comment is followed by the usual gap, the last one's before the first event.
            for _ in 0..<max(0, faults.keepaliveComments ?? 0) {
                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                await Delay.milliseconds(faults.chunkGapMs)
            }
            for (index, event) in events.enumerated() {
                // Checked before each event so that N means "N events were sent"; N >= the
                // event count delivers the whole stream.
                if let stall = faults.stallAfterChunks, index >= stall {
                    await Delay.untilClientLeaves(channel)
                    throw ConnectionCut()
                }
                if let cut = faults.cutAfterChunks, index >= cut { throw ConnectionCut() }
                if index > 0 { await Delay.milliseconds(faults.chunkGapMs) }
                if let streamError, let after = faults.streamErrorAfterChunks, index >= after {
                    // The body then ends cleanly: the error event is the stream's last word.
                    try await writer.write(streamError)
                    break
                }
                try await writer.write(event)
            }
            try await writer.finish(nil)
        })
    }

    /// A JSON body; with a cut or stall fault only its first half is sent, under a
    /// Content-Length for the whole, so the client sees a truncated body.
    private static func json(_ body: ByteBuffer, headers: HTTPFields, faults: Faults, channel: any Channel) -> Response {
        let ttfb = faults.ttfbMs ?? 0
        let truncated = faults.cutAfterChunks != nil || faults.stallAfterChunks != nil
        if ttfb <= 0 && !truncated {
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: body))
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: body.readableBytes) { writer in
            await Delay.milliseconds(ttfb)
            guard truncated else {
                try await writer.write(body)
                try await writer.finish(nil)
                return
            }
            try await writer.write(body.getSlice(at: body.readerIndex, length: body.readableBytes / 2) ?? ByteBuffer())
            if faults.stallAfterChunks != nil { await Delay.untilClientLeaves(channel) }
            throw ConnectionCut()
        })
    }
}
