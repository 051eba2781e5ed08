import HTTPTypes
import Hummingbird
import KeyPool
import Logging
import NIOCore

extension ChatProxy {
    /// Relays the upstream's events as they arrive (never buffered whole), translated when the
    /// provider's API is not OpenAI's, then settles from the reported usage; a client that
    /// leaves stops the upstream request and settles what was sent.
    ///
    /// The answer is committed only once the first event for the client is ready: until then
    /// nothing has reached the client, so a connection that breaks, or an overload or rate-limit
    /// error the provider reports in its stream, is a failure another key may mend. SSE comments
    /// before the first event (OpenRouter's `: OPENROUTER PROCESSING` while a model queues) do
    /// not commit it: they are held, and go out with the first event, or with the first chunk
    /// that arrives once they have been held for `commentHold` (their purpose is to keep idle
    /// connections open, and proxies between the gateway and the client commonly allow 60 s of
    /// silence). No timer races the read: an upstream that sends comments sends them every few
    /// seconds, and the wait for the next chunk is bounded by the upstream read timeout anyway.
    func stream(
        _ response: UpstreamResponse, _ attempt: Attempt, translator: any ChatStreamTranslator, context: GatewayContext
    ) async -> AttemptResult {
        var translator = translator
        let chunks = UpstreamChunks(response.body)
        var first = ByteBuffer()
        var ended = false
        var held = ByteBuffer()
        var heldSince: ContinuousClock.Instant?
        do {
            while first.readableBytes == 0 {
                guard let chunk = try await chunks.next() else {
                    ended = true
                    break
                }
                var out = try translator.feed(chunk)
                guard out.readableBytes > 0 else { continue }
                if SSEComments.only(out) {
                    let since = heldSince ?? .now
                    heldSince = since
                    held.writeBuffer(&out)
                    if since.duration(to: .now) >= Self.commentHold { swap(&first, &held) }
                } else if held.readableBytes > 0 {
                    held.writeBuffer(&out)
                    swap(&first, &held)
                } else {
                    first = out
                }
            }
        } catch let error as GatewayError {
            if let failure = UpstreamFailure.streamError(error, provider: attempt.provider, keyID: attempt.lease.keyID) {
                return .failed(failure)
            }
            // About the request itself: the client gets it as an answer, since nothing was sent.
            await settle(attempt.lease, release: true, tokens: 0, context: context)
            return .answered(error.redacting(attempt.hidden).with(attempt.headers).response())
        } catch {
            return .failed(.transport(error, provider: attempt.provider, keyID: attempt.lease.keyID))
        }
        if translator.dataEvents == 0, let kind = translator.relayedFailure {
            // An OpenAI-compatible upstream's error event before any content (a rate limit, an
            // overloaded provider), as Gemini and Anthropic streams report theirs: nothing has
            // reached the client, so another key may serve the request.
            return .failed(UpstreamFailure(
                kind: kind, provider: attempt.provider, keyID: attempt.lease.keyID, status: nil, retryAfterMillis: nil))
        }
        if ended, first.readableBytes == 0, !translator.isComplete {
            // The body ended cleanly before a single event: cut on the way, like a JSON answer
            // cut short, and nothing was sent yet, so another key may serve it.
            return .failed(UpstreamFailure(
                kind: .unreachable, provider: attempt.provider, keyID: attempt.lease.keyID, status: nil, retryAfterMillis: nil))
        }

        var headers = attempt.headers
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[ProxyHeaders.accelBuffering] = "no"
        let store = state.store
        let metrics = state.metrics
        let record = context.record
        let channel = context.channel
        let drain = state.drain
        let logger = context.logger
        let start = first
        let translatorSoFar = translator
        let upstreamEnded = ended
        let settles = state.settles
        // Never written (the client left before the head could go): the upstream stops when
        // `chunks` is released with this closure; the key is charged what was generated so far.
        let abandoned: @Sendable () -> Void = {
            metrics.streamFinished(provider: attempt.provider, model: attempt.candidate.model, outcome: "client_disconnected")
            let tokens = Self.streamedTokens(translatorSoFar, attempt)
            settles.run { await Self.settle(store: store, attempt.lease, release: false, tokens: tokens, logger: logger) }
        }
        return .answered(Response(status: .ok, headers: headers, body: UnwrittenBody.body(abandoned: abandoned) { writer in
            // On the client connection's event loop, where the upstream connection was opened
            // too: each event then reaches the client without a hand-off between threads.
            try await withTaskExecutorPreference(EventLoopTaskExecutor(channel.eventLoop)) {
                var translator = translatorSoFar
                metrics.streamStarted()
                defer { metrics.streamEnded() }
                // An error the provider reported inside its stream; the rest of the stream is skipped.
                var reported: GatewayError?
                var outcome = StreamPump.Outcome.finished
                // Time to first token, as gateways measure it: to the first event written to the
                // client (in OpenAI's streams the first chunk, which may carry only the role).
                var firstTokenSent = false
                func noteFirstToken(_ written: ByteBuffer) {
                    // Comments held past the hold go out before any event: not a first token.
                    guard !firstTokenSent, !SSEComments.only(written) else { return }
                    firstTokenSent = true
                    let seconds = record.elapsedSeconds
                    metrics.timeToFirstToken(provider: attempt.provider, model: attempt.candidate.model, seconds: seconds)
                    record.update { $0.timeToFirstTokenSeconds = seconds }
                }
                do {
                    if start.readableBytes > 0 {
                        try await writer.write(start)
                        noteFirstToken(start)
                    }
                } catch {
                    outcome = .clientGone
                }
                if outcome == .finished, !upstreamEnded {
                    outcome = await StreamPump.run(
                        upstream: chunks, channel: channel, drain: drain, writeTimeout: .milliseconds(Int64(attempt.timeoutSeconds * 1000))
                    ) { chunk in
                        guard reported == nil else { return }
                        let out: ByteBuffer
                        do throws(GatewayError) {
                            out = try translator.feed(chunk)
                        } catch {
                            reported = error.redacting(attempt.hidden)
                            return
                        }
                        if out.readableBytes > 0 {
                            try await writer.write(out)
                            noteFirstToken(out)
                        }
                    }
                }
                let provider = attempt.provider
                // A body that ended cleanly before the stream's end marker was cut on the way: an
                // interrupted stream for the client, never a whole answer with `[DONE]` appended.
                if outcome == .finished, reported == nil, !translator.isComplete { outcome = .upstreamFailed }
                // The upstream's own error event ended the stream (the client has it) before the
                // connection broke: a `stream_interrupted` event after it would only confuse.
                if outcome == .upstreamFailed, translator.relayedError != nil { outcome = .finished }
                // How the stream ended, for gateway_streams_total and the log line's `error`:
                // noted before the end is written, so a client that has its answer and then
                // scrapes /metrics finds the stream counted.
                let (ended, error): (String, String?) = switch (outcome, reported) {
                case (.clientGone, _): ("client_disconnected", "client_disconnected")
                case (.clientStalled, _): ("client_stalled", "client_stalled")
                case (.drainExpired, _): ("gateway_shutting_down", "gateway_shutting_down")
                // An upstream error event relayed as it came ended the stream: the client has it
                // and nothing goes after it, but the log must not pass it off as a success.
                case (.finished, nil): translator.relayedError.map { ("upstream_error", $0) } ?? ("completed", nil)
                case (_, let reported?): ("upstream_error", reported.code ?? reported.type)
                case (.upstreamFailed, nil): ("stream_interrupted", "stream_interrupted")
                }
                metrics.streamFinished(provider: provider, model: attempt.candidate.model, outcome: ended)
                if let error { record.update { $0.error = error } }
                switch (outcome, reported) {
                case (.clientGone, _):
                    break
                case (.clientStalled, _):
                    logger.warning("stream to a client that stopped reading for \(attempt.timeoutSeconds) s closed after \(translator.dataEvents) events")
                case (.drainExpired, _):
                    logger.warning("stream from \(provider) ended by the shutdown drain after \(translator.dataEvents) events")
                    try? await writer.write(StreamPump.drainEvent)
                    try? await writer.finish(nil)
                case (.finished, nil):
                    if let relayed = translator.relayedError {
                        logger.warning("upstream \(provider) reported an error in its stream: \(relayed)")
                    } else {
                        let tail = translator.finish()
                        if tail.readableBytes > 0 { try? await writer.write(tail) }
                    }
                    try? await writer.finish(nil)
                case (_, let reported?):
                    logger.warning("upstream \(provider) reported an error in its stream: \(reported.message)")
                    try? await writer.write(StreamPump.errorEvent(reported))
                    try? await writer.finish(nil)
                case (.upstreamFailed, nil):
                    logger.warning("upstream \(provider) stream broke after \(translator.dataEvents) events")
                    try? await writer.write(StreamPump.errorEvent(provider: provider))
                    try? await writer.finish(nil)
                }
                let tokens = Self.streamedTokens(translator, attempt)
                if let usage = translator.usage { Self.noteUsage(usage, attempt, metrics: metrics, record: record) }
                await Self.settle(store: store, attempt.lease, release: false, tokens: tokens, logger: logger)
                if outcome == .clientGone || outcome == .clientStalled { throw StreamPump.ClientGone() }
            }
        }))
    }

    /// How long comments before a stream's first event are held back (see `stream`).
    static let commentHold: Duration = .seconds(10)

    /// What a stream is settled to: the tokens the provider reported; without a usage chunk, the
    /// prompt estimate plus one token per event delivered.
    static func streamedTokens(_ translator: any ChatStreamTranslator, _ attempt: Attempt) -> Int {
        translator.usage?.totalTokens ?? (attempt.promptEstimate + translator.dataEvents)
    }
}
