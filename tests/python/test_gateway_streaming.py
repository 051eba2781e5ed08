"""Streams through the gateway: byte-exact relay, usage chunk handling, broken, stalled and slow
upstreams, and clients that leave mid-stream.

Faults are set in the upstream mock's config (the gateway forwards no client header upstream).
"""

from __future__ import annotations

import json
import re
import socket
import struct
import time

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway_fixtures import ACCESS_KEY, HTTP, KEY_IDS, PROVIDER_KEYS, assert_no_secrets, base_config, new_http_client
from helpers import REPLY, tokens, words

QUESTION = "Stream me a short answer"
MESSAGES = [{"role": "user", "content": QUESTION}]
ANSWER = REPLY + QUESTION
TOTAL = tokens(QUESTION) + tokens(ANSWER)
STREAM = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}


def events(raw: bytes) -> list[bytes]:
    """SSE events (without their blank-line terminator), `created` zeroed for comparison."""
    raw = re.sub(rb'"created":\d+', b'"created":0', raw)
    assert raw.endswith(b"\n\n"), raw[-200:]
    return raw[:-2].split(b"\n\n")


def data_of(event: bytes):
    assert event.startswith(b"data: "), event
    payload = event[len(b"data: "):]
    return payload if payload == b"[DONE]" else json.loads(payload)


def direct(upstream, body: dict) -> bytes:
    """The same request straight to the upstream (with a key the gateway's first pick is not)."""
    response = HTTP.post(f"{upstream.url}/v1/chat/completions", json=body,
                         headers={"Authorization": f"Bearer {PROVIDER_KEYS[2]}"})
    assert response.status_code == 200
    return response.content


def key_usage(usage: dict, index: int = 0) -> dict:
    return usage["details"]["mock"]["keys"][KEY_IDS[index]]


# Byte-exact relay --------------------------------------------------------------------------------

def test_stream_is_relayed_byte_for_byte_minus_the_usage_chunk(gateway, upstream):
    response = gateway.chat(STREAM)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    # What the upstream sends for the request the gateway made (usage asked for) ...
    upstream_events = events(direct(upstream, {**STREAM, "stream_options": {"include_usage": True}}))
    usage_events = [e for e in upstream_events if e != b"data: [DONE]" and data_of(e)["choices"] == []]
    assert len(usage_events) == 1
    # ... is what the client gets, without the usage-only chunk it did not ask for.
    assert events(response.content) == [e for e in upstream_events if e not in usage_events]
    assert events(response.content)[-1] == b"data: [DONE]"
    assert_no_secrets(response, gateway)
    assert stream_outcomes(gateway) == {"completed": 1}


def test_stream_with_usage_is_relayed_byte_for_byte(gateway, upstream):
    body = {**STREAM, "stream_options": {"include_usage": True}}
    response = gateway.chat(body)
    assert events(response.content) == events(direct(upstream, body))
    chunk = data_of(events(response.content)[-2])
    assert chunk["choices"] == []
    assert chunk["usage"] == {"prompt_tokens": tokens(QUESTION), "completion_tokens": tokens(ANSWER), "total_tokens": TOTAL}


def test_stream_events_arrive_as_they_are_produced(gateway, upstream):
    """The relay is not buffered: the first event reaches the client long before the last."""
    upstream.patch_config({"faults": {"chunk_gap_ms": 150}})
    arrivals = []
    start = time.monotonic()
    with new_http_client(timeout=10) as client:
        with client.stream("POST", f"{gateway.url}/v1/chat/completions", json=STREAM, headers=gateway.headers()) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    arrivals.append(time.monotonic() - start)
    # role + words + finish + [DONE] (the usage chunk is dropped)
    assert len(arrivals) == 1 + len(words(ANSWER)) + 1 + 1
    assert arrivals[0] < 0.5
    assert arrivals[-1] - arrivals[0] >= 0.15 * (len(arrivals) - 1) - 0.05


def stream_outcomes(gateway) -> dict[str, float]:
    """gateway_streams_total by outcome, from /metrics (every stream here is gpt-4o-mini's)."""
    response = httpx.get(f"{gateway.url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    outcomes = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "gateway_streams_total":
                assert sample.labels["model"] == "gpt-4o-mini", sample.labels
                outcomes[sample.labels["outcome"]] = sample.value
    return outcomes


# Broken upstream streams ---------------------------------------------------------------------------

CUT_PIECES = ["", "Mock ", "reply "]  # the three events the upstream sends before it cuts


def test_cut_stream_ends_with_stream_interrupted_event(gateway, upstream):
    upstream.patch_config({"faults": {"cut_after_chunks": 3}})
    response = gateway.chat(STREAM)
    assert response.status_code == 200
    got = events(response.content)
    relayed = [data_of(e)["choices"][0]["delta"].get("content") for e in got[:-1]]
    assert relayed == CUT_PIECES[:len(relayed)]
    error = data_of(got[-1])
    assert set(error) == {"error"}
    assert set(error["error"]) == {"message", "type", "param", "code"}
    assert (error["error"]["type"], error["error"]["code"]) == ("upstream_error", "stream_interrupted")
    assert b"[DONE]" not in response.content
    assert_no_secrets(response, gateway)
    # Its status was 200, so only this series tells a broken stream from a whole one.
    assert stream_outcomes(gateway) == {"stream_interrupted": 1}
    # The upstream took the request: it counts once.
    usage = gateway.wait_usage(lambda u: key_usage(u)["requests"] == 1)
    assert key_usage(usage)["requests"] == 1
    assert upstream.key_stats(PROVIDER_KEYS[0])["requests"] == 1


def test_cut_stream_relays_a_prefix_then_the_error_event(gateway, upstream):
    """However the cut lands, the client gets every event the upstream sent before it, in order
    with nothing invented, then the `stream_interrupted` event, and never `[DONE]`. Repeated,
    because the timing of the upstream's last events against its close varies: bytes read before
    the close are handed over before the error (AsyncHTTPClient, used before, could drop them)."""
    upstream.patch_config({"faults": {"cut_after_chunks": 3}})
    for _ in range(20):
        response = gateway.chat(STREAM)
        got = events(response.content)
        assert data_of(got[-1])["error"]["code"] == "stream_interrupted"
        relayed = [data_of(e)["choices"][0]["delta"].get("content") for e in got[:-1]]
        assert relayed == CUT_PIECES
        assert b"[DONE]" not in response.content


def test_cut_stream_raises_in_the_openai_sdk(gateway, upstream):
    upstream.patch_config({"faults": {"cut_after_chunks": 3}})
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            received.append(chunk.choices[0].delta.content)
    assert received == CUT_PIECES[:len(received)]
    assert raised.value.body["code"] == "stream_interrupted"
    assert raised.value.body["type"] == "upstream_error"
    # The gateway keeps serving.
    upstream.patch_config({"faults": {}})
    assert gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices[0].message.content == ANSWER


def _sse(*payloads: str) -> bytes:
    return b"".join(f"data: {p}\n\n".encode() for p in payloads)


def _chunk(content: str | None = None, finish: str | None = None) -> str:
    delta = {"content": content} if content is not None else {}
    return json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def _stream_answer(body: bytes):
    return lambda record: (200, {"Content-Type": "text/event-stream"}, body)


def test_a_stream_whose_body_ends_cleanly_before_its_end_is_interrupted_not_whole(start_gateway, echo_upstream):
    """A body that ends cleanly (full Content-Length, or a proxy that closes the chunked body)
    without `[DONE]` or a finish reason was cut on the way: the client gets the events, then
    `stream_interrupted`, never a whole-looking answer. Cut before the first event, it is a
    failed try and another key serves the request."""
    gateway = start_gateway(base_config(echo_upstream.url))
    echo_upstream.responder = _stream_answer(_sse(_chunk("Hel"), _chunk("lo")))
    response = gateway.chat(STREAM)
    got = events(response.content)
    assert [data_of(e)["choices"][0]["delta"]["content"] for e in got[:-1]] == ["Hel", "lo"]
    assert data_of(got[-1])["error"]["code"] == "stream_interrupted"
    with pytest.raises(openai.APIError) as raised:
        list(gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert raised.value.body["code"] == "stream_interrupted"

    # Nothing at all before the clean end: each key tried, then 502 upstream_unreachable.
    echo_upstream.responder = _stream_answer(b"")
    response = gateway.chat(STREAM)
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "upstream_unreachable"
    assert response.headers["x-gateway-attempts"] == "3"


@pytest.mark.parametrize("ending", ["done", "finish_reason_only"])
def test_a_stream_with_its_end_marker_is_whole(start_gateway, echo_upstream, ending):
    """`[DONE]`, or a finish reason from a server that never sends `[DONE]`, ends the stream as
    the upstream sent it, with nothing added."""
    gateway = start_gateway(base_config(echo_upstream.url))
    payloads = [_chunk("Hi"), _chunk(finish="stop")] + (["[DONE]"] if ending == "done" else [])
    echo_upstream.responder = _stream_answer(_sse(*payloads))
    response = gateway.chat(STREAM)
    assert response.status_code == 200
    assert response.content == _sse(*payloads)
    chunks = list(gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert [c.choices[0].finish_reason for c in chunks] == [None, "stop"]


def test_stalled_stream_ends_after_the_upstream_timeout(start_gateway, upstream):
    gateway = start_gateway(base_config(upstream.url, server={"upstream_timeout_seconds": 0.5}))
    upstream.patch_config({"faults": {"stall_after_chunks": 2}})
    start = time.monotonic()
    response = gateway.chat(STREAM, timeout=10)
    elapsed = time.monotonic() - start
    assert response.status_code == 200
    got = events(response.content)
    assert len(got) == 3
    assert data_of(got[2])["error"]["code"] == "stream_interrupted"
    assert 0.4 <= elapsed < 2.0


def test_slow_stream_longer_than_the_timeout_completes(start_gateway, upstream):
    """upstream_timeout_seconds bounds the wait for the answer and the silence between events,
    not the whole stream."""
    gateway = start_gateway(base_config(upstream.url, server={"upstream_timeout_seconds": 0.5}))
    upstream.patch_config({"faults": {"chunk_gap_ms": 250, "chunks": 4}})
    start = time.monotonic()
    response = gateway.chat(STREAM, timeout=10)
    elapsed = time.monotonic() - start
    got = events(response.content)
    # role + 4 pieces + finish + [DONE]
    assert len(got) == 7
    assert got[-1] == b"data: [DONE]"
    assert "".join(data_of(e)["choices"][0]["delta"].get("content") or "" for e in got[:-1]) == ANSWER
    assert elapsed >= 1.2
    usage = gateway.wait_usage(lambda u: key_usage(u)["total_tokens"] == TOTAL)
    assert key_usage(usage)["total_tokens"] == TOTAL


# Clients that leave --------------------------------------------------------------------------------

def test_client_disconnect_stops_the_upstream_and_settles_what_was_sent(gateway, upstream):
    long_question = " ".join(f"word{i:02d}" for i in range(60))
    full_tokens = tokens(long_question) + tokens(REPLY + long_question)
    upstream.patch_config({"faults": {"chunk_gap_ms": 300}})  # ~64 events: ~19 s for the whole answer
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": long_question}]}

    start = time.monotonic()
    received = []
    with new_http_client(timeout=10) as client:
        with client.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=gateway.headers()) as response:
            assert response.status_code == 200
            # Keep the iterator referenced: a dropped httpx line iterator closes the connection
            # at once (GeneratorExit), and the client must stay until the check below.
            lines = response.iter_lines()
            while len(received) < 3:
                line = next(lines)
                if line.startswith("data: "):
                    received.append(line)
            assert gateway.upstream_connections(upstream.port) == 1
    left_at = time.monotonic()
    assert left_at - start < 3

    # The gateway lets go of its upstream request at once.
    while gateway.upstream_connections(upstream.port) and time.monotonic() - left_at < 2:
        time.sleep(0.02)
    assert gateway.upstream_connections(upstream.port) == 0
    assert time.monotonic() - left_at < 1.0

    # It settles what it delivered: one request, fewer tokens than the whole answer, but some.
    usage = gateway.wait_usage(lambda u: 0 < key_usage(u)["rate_limit_windows"]["tokens_day"] < full_tokens)
    mine = key_usage(usage)
    assert mine["requests"] == 1 and mine["total_requests"] == 1
    assert 0 < mine["rate_limit_windows"]["tokens_day"] < full_tokens
    assert mine["total_tokens"] == mine["rate_limit_windows"]["tokens_day"]

    # And keeps serving at once.
    t = time.monotonic()
    after = gateway.chat({"model": "gpt-4o-mini", "messages": MESSAGES})
    assert after.status_code == 200
    assert time.monotonic() - t < 1.0
    stats = upstream.key_stats(PROVIDER_KEYS[0])
    assert stats["requests"] == 2 and stats["streamed"] == 1


def test_client_disconnect_while_upstream_is_silent(start_gateway, upstream):
    """A client leaving during a long silence (no event to write) still frees the upstream."""
    gateway = start_gateway(base_config(upstream.url, server={"upstream_timeout_seconds": 30}))
    upstream.patch_config({"faults": {"stall_after_chunks": 2}})
    with new_http_client(timeout=10) as client:
        with client.stream("POST", f"{gateway.url}/v1/chat/completions", json=STREAM, headers=gateway.headers()) as response:
            lines = response.iter_lines()
            while not next(lines).startswith("data: "):
                pass
            assert gateway.upstream_connections(upstream.port) == 1
    left_at = time.monotonic()
    while gateway.upstream_connections(upstream.port) and time.monotonic() - left_at < 2:
        time.sleep(0.02)
    assert gateway.upstream_connections(upstream.port) == 0
    assert time.monotonic() - left_at < 1.0
    usage = gateway.wait_usage(lambda u: key_usage(u)["total_tokens"] > 0)
    assert key_usage(usage)["requests"] == 1
    assert key_usage(usage)["total_tokens"] > 0


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_client_reset_before_the_answer_is_still_settled_and_logged(gateway, upstream, stream):
    """A client whose connection resets while the provider works (an SDK timeout, a killed
    process): the gateway cannot even write the answer's head, and Hummingbird then drops the
    answer unwritten. The provider did the work, so the key is still charged and the request
    logged (before: neither happened; the window kept the estimate and the usage lost it)."""
    # A stream that would go on for seconds after its first event.
    upstream.patch_config({"faults": {"latency_ms": 600, "chunk_gap_ms": 300}})
    body = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES, "stream": stream}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
            f"Authorization: Bearer {ACCESS_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", gateway.port))
    # Linger 0: close() resets the connection, as a process that dies or an abandoned socket does.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.sendall(head + body)
    time.sleep(0.2)
    sock.close()

    if stream:
        # Charged what was generated before it was dropped: the prompt estimate and one event.
        usage = gateway.wait_usage(lambda u: key_usage(u)["total_tokens"] > 0, timeout=5)
    else:
        usage = gateway.wait_usage(lambda u: key_usage(u)["total_tokens"] == TOTAL, timeout=5)
        assert key_usage(usage)["total_tokens"] == TOTAL
    mine = key_usage(usage)
    assert mine["requests"] == 1 and mine["total_requests"] == 1
    assert mine["rate_limit_windows"]["tokens_min"] == mine["total_tokens"] > 0
    assert upstream.key_stats(PROVIDER_KEYS[0])["requests"] == 1
    # The stream's upstream request is stopped (its connection closed mid-answer).
    deadline = time.monotonic() + 2
    while stream and gateway.upstream_connections(upstream.port) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not stream or gateway.upstream_connections(upstream.port) == 0

    deadline = time.monotonic() + 5
    while not (lines := [json.loads(line) for line in gateway.log().splitlines()
                         if line.startswith("{") and '"endpoint":"/v1/chat/completions"' in line]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(lines) == 1
    assert lines[0]["status"] == 200 and lines[0]["key_id"] == KEY_IDS[0]
    # The client is gone either way, and the log line says so.
    assert lines[0]["error"] == "client_disconnected"
    assert stream_outcomes(gateway) == ({"client_disconnected": 1} if stream else {})
