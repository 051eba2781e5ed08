"""Every injectable fault, triggered by request header and by config, as clients see it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors, types

from helpers import REPLY

try:  # Recent anthropic releases ship on httpx2; its transport errors are what a cut stream raises.
    import httpx2

    TRANSPORT_ERRORS: tuple = (httpx.TransportError, httpx2.TransportError, anthropic.APIConnectionError)
except ImportError:  # pragma: no cover
    TRANSPORT_ERRORS = (httpx.TransportError, anthropic.APIConnectionError)

KEY = "sk-faults"
QUESTION = "one two three four"
MESSAGES = [{"role": "user", "content": QUESTION}]


def chat(mock, headers=None, key=KEY, timeout=30.0, **kwargs):
    client = openai.OpenAI(api_key=key, base_url=f"{mock.url}/v1", max_retries=0, timeout=timeout)
    return client.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers or {}, **kwargs)


def timed(fn):
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start


# Latency, jitter, time to first byte, chunks and gaps ------------------------------------------

def test_latency_header(mock):
    reply, elapsed = timed(lambda: chat(mock, {"x-mock-latency-ms": "300"}))
    assert elapsed >= 0.3
    assert reply.choices[0].message.content == REPLY + QUESTION


def test_latency_from_config_key(mock):
    _, elapsed = timed(lambda: chat(mock, key="sk-slow"))  # latency_ms 300 in the config
    assert elapsed >= 0.3


def test_a_request_whose_client_left_during_its_latency_stays_out_of_the_next_tests_stats(mock):
    """A slowed-down request is counted when its wait ends, also when its client left during it
    (a gateway stopped at its test's end). The fixtures' clean slate waits for such a request
    first, so its count cannot land in the next test's stats: it did, as a second 200 on key 0 in
    test_structured_output_with_a_pydantic_model, from a request of test_cluster.py 8 s before."""
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        chat(mock, {"x-mock-latency-ms": "800"}, timeout=0.2)
    mock.restore()  # what the next test's fixture does
    time.sleep(max(0.0, start + 1.0 - time.monotonic()))  # past the request's wait
    assert mock.stats()["requests"] == 0


def test_a_request_waiting_out_its_latency_is_pending(mock):
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(chat, mock, {"x-mock-latency-ms": "500"})
        deadline = time.monotonic() + 0.4
        while mock.stats()["pending"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        during = mock.stats()
        answer.result()
    assert (during["pending"], during["requests"]) == (1, 0)
    after = mock.stats()
    assert (after["pending"], after["requests"]) == (0, 1)


def test_jitter_adds_up_to_its_bound(mock):
    elapsed = [timed(lambda: chat(mock, {"x-mock-latency-ms": "100", "x-mock-jitter-ms": "200"}))[1] for _ in range(3)]
    assert all(0.1 <= e < 2.0 for e in elapsed)


def test_time_to_first_byte_on_a_stream(mock):
    start = time.monotonic()
    with httpx.stream(
        "POST", f"{mock.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}", "x-mock-ttfb-ms": "500"},
        json={"model": "m", "stream": True, "messages": MESSAGES},
    ) as response:
        head = time.monotonic() - start
        assert response.status_code == 200
        first = next(response.iter_raw())
        body = time.monotonic() - start
    assert first.startswith(b"data: ")
    assert body >= 0.5
    assert body - head >= 0.3  # the head came first, the body waited


def test_time_to_first_byte_on_json(mock):
    _, elapsed = timed(lambda: chat(mock, {"x-mock-ttfb-ms": "300"}))
    assert elapsed >= 0.3


def test_number_of_chunks(mock):
    chunks = list(chat(mock, {"x-mock-chunks": "3"}, stream=True))
    text = REPLY + QUESTION  # 33 characters -> pieces of 11
    pieces = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert pieces == [text[0:11], text[11:22], text[22:33]]


def test_chunk_gap(mock):
    chunks, elapsed = timed(lambda: list(chat(mock, {"x-mock-chunks": "4", "x-mock-chunk-gap-ms": "100"}, stream=True)))
    # role + 4 pieces + finish + [DONE] = 7 events, 6 gaps.
    assert len(chunks) == 6
    assert elapsed >= 0.6


def test_faults_from_config_for_all_keys(mock):
    mock.patch_config({"faults": {"chunks": 2}})
    chunks = list(chat(mock, stream=True))
    assert len(chunks) == 4


# Injected statuses ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("status", "error"),
    [(429, openai.RateLimitError), (500, openai.InternalServerError), (503, openai.InternalServerError), (529, openai.InternalServerError)],
)
def test_openai_injected_status(mock, status, error):
    with pytest.raises(error) as raised:
        chat(mock, {"x-mock-status": str(status)})
    assert raised.value.status_code == status
    assert set(raised.value.response.json()["error"]) == {"message", "type", "param", "code"}
    assert ("retry-after" in raised.value.response.headers) == (status != 500)
    assert mock.key_stats(KEY)["statuses"] == {str(status): 1}


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, "rate_limit_error"), (500, "api_error"), (503, "api_error"), (529, "overloaded_error")],
)
def test_anthropic_injected_status(mock, status, kind):
    client = anthropic.Anthropic(api_key=KEY, base_url=mock.url, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as raised:
        client.messages.create(model="c", max_tokens=10, messages=MESSAGES, extra_headers={"x-mock-status": str(status)})
    assert raised.value.status_code == status
    assert raised.value.body["error"]["type"] == kind


@pytest.mark.parametrize(
    ("status", "error", "name"),
    [(429, errors.ClientError, "RESOURCE_EXHAUSTED"), (500, errors.ServerError, "INTERNAL"),
     (503, errors.ServerError, "UNAVAILABLE"), (529, errors.ServerError, "UNAVAILABLE")],
)
def test_gemini_injected_status(mock, status, error, name):
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=mock.url, headers={"x-mock-status": str(status)}))
    with pytest.raises(error) as raised:
        client.models.generate_content(model="gemini-2.0-flash", contents=QUESTION)
    assert raised.value.code == status and raised.value.status == name


def test_status_for_a_key_from_config(mock):
    with pytest.raises(openai.InternalServerError) as raised:
        chat(mock, key="sk-broken")  # status 503, retry_after 2
    assert raised.value.status_code == 503
    assert raised.value.response.headers["retry-after"] == "2"


def test_error_rate_is_deterministic(mock):
    outcomes = []
    for _ in range(6):
        try:
            chat(mock, {"x-mock-error-rate": "0.5", "x-mock-status": "503"})
            outcomes.append(200)
        except openai.APIStatusError as error:
            outcomes.append(error.status_code)
    assert outcomes == [503, 200, 503, 200, 503, 200]
    assert mock.key_stats(KEY)["statuses"] == {"503": 3, "200": 3}


def test_error_rate_at_random(mock):
    """`error_random` draws each failure: about the rate, in no fixed pattern (the chance of
    falling outside 100..300 of 400 at p = 0.5 is below 1e-20)."""
    mock.patch_config({"keys": {KEY: {"faults": {"status": 503, "error_rate": 0.5, "error_random": True}}}})
    with httpx.Client(timeout=10) as client:
        statuses = [client.post(f"{mock.url}/v1/chat/completions", json={"model": "m", "messages": MESSAGES},
                                headers={"Authorization": f"Bearer {KEY}"}).status_code for _ in range(400)]
    failures = statuses.count(503)
    assert statuses.count(200) + failures == 400
    assert 100 <= failures <= 300
    for rate, expected in ((0.0, 0), (1.0, 20)):
        with httpx.Client(timeout=10) as client:
            got = [client.post(f"{mock.url}/v1/chat/completions", json={"model": "m", "messages": MESSAGES},
                               headers={"Authorization": f"Bearer {KEY}", "x-mock-error-rate": str(rate),
                                        "x-mock-error-random": "1"}).status_code for _ in range(20)]
        assert got.count(503) == expected


def test_error_rate_from_config(mock):
    outcomes = []
    for _ in range(4):
        try:
            chat(mock, key="sk-flaky")  # status 500 at rate 0.5
            outcomes.append(200)
        except openai.InternalServerError:
            outcomes.append(500)
    assert outcomes == [500, 200, 500, 200]


def test_sdk_honours_retry_after(mock):
    # The first request fails with 429 and Retry-After: 1; the SDK waits and retries once.
    client = openai.OpenAI(api_key=KEY, base_url=f"{mock.url}/v1", max_retries=1)
    headers = {"x-mock-error-rate": "0.5", "x-mock-status": "429", "x-mock-retry-after": "1"}
    reply, elapsed = timed(lambda: client.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers))
    assert reply.choices[0].message.content == REPLY + QUESTION
    assert elapsed >= 1.0
    assert mock.key_stats(KEY)["statuses"] == {"429": 1, "200": 1}


def test_runtime_patch_breaks_and_heals_a_key(mock):
    mock.patch_config({"keys": {KEY: {"faults": {"status": 500}}}})
    with pytest.raises(openai.InternalServerError):
        chat(mock)
    mock.patch_config({"keys": {KEY: None}})
    assert chat(mock).choices[0].finish_reason == "stop"


# Cut, stalled and hanging answers --------------------------------------------------------------

def test_cut_stream_openai(mock):
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in chat(mock, {"x-mock-cut-after-chunks": "3"}, stream=True):
            received.append(chunk.choices[0].delta.content)
    assert received == ["", "Mock ", "reply "]  # three events, then the connection dropped


def test_cut_json_body(mock):
    with pytest.raises(openai.APIConnectionError):
        chat(mock, {"x-mock-cut-after-chunks": "1"})
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(
            f"{mock.url}/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}", "x-mock-cut-after-chunks": "0"},
            json={"model": "m", "messages": MESSAGES},
        )


def test_cut_stream_without_the_terminating_event(mock):
    # Everything but [DONE]: 1 role + 5 words + 1 finish = 7 events.
    with httpx.stream(
        "POST", f"{mock.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}", "x-mock-cut-after-chunks": "7"},
        json={"model": "m", "stream": True, "messages": MESSAGES},
    ) as response:
        lines = []
        with pytest.raises(httpx.RemoteProtocolError):
            for line in response.iter_lines():
                lines.append(line)
    events = [line for line in lines if line.startswith("data: ")]
    assert len(events) == 7 and "data: [DONE]" not in events


def test_cut_stream_anthropic_from_config(mock):
    client = anthropic.Anthropic(api_key="sk-cut", base_url=mock.url, max_retries=0)  # cut_after_chunks 3
    pieces = []
    with pytest.raises(TRANSPORT_ERRORS):
        with client.messages.stream(model="c", max_tokens=100, messages=MESSAGES) as stream:
            for text in stream.text_stream:
                pieces.append(text)
    # message_start, ping, content_block_start were sent: no text arrived.
    assert pieces == []
    assert mock.key_stats("sk-cut")["statuses"] == {"200": 1}


def test_cut_stream_gemini(mock):
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=mock.url, headers={"x-mock-cut-after-chunks": "2"}))
    texts = []
    with pytest.raises(Exception) as raised:
        for chunk in client.models.generate_content_stream(model="gemini-2.0-flash", contents=QUESTION):
            texts.append(chunk.text)
    assert texts == ["Mock ", "reply "]
    assert "incomplete" in str(raised.value) or "closed" in str(raised.value)


def test_stalled_stream_hits_the_client_timeout(mock):
    received = []
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        for chunk in chat(mock, {"x-mock-stall-after-chunks": "2"}, stream=True, timeout=1.0):
            received.append(chunk.choices[0].delta.content)
    assert received == ["", "Mock "]
    assert 1.0 <= time.monotonic() - start < 10


def test_hang_hits_the_client_timeout(mock):
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        chat(mock, {"x-mock-hang": "1"}, timeout=1.0)
    assert 1.0 <= time.monotonic() - start < 10
    assert mock.key_stats(KEY)["statuses"] == {"0": 1}  # status 0: no answer was sent


def test_hang_from_config_anthropic(mock):
    mock.patch_config({"keys": {"sk-hang": {"faults": {"hang": True}}}})
    client = anthropic.Anthropic(api_key="sk-hang", base_url=mock.url, max_retries=0, timeout=1.0)
    with pytest.raises(anthropic.APITimeoutError):
        client.messages.create(model="c", max_tokens=10, messages=MESSAGES)


# The provider's own error event ending a stream --------------------------------------------------

def test_stream_error_event_openai(mock):
    """N events, then OpenAI-compatible servers' `data: {"error": ...}`, and a clean end: the
    openai SDK raises APIError with the event's error, after the chunks before it."""
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in chat(mock, {"x-mock-stream-error-after-chunks": "2"}, stream=True):
            received.append(chunk.choices[0].delta.content)
    assert received == ["", "Mock "]
    assert raised.value.body == {
        "message": "Injected fault: error event in the stream (mock-provider).",
        "type": "server_error", "param": None, "code": "stream_error"}
    assert mock.key_stats(KEY)["statuses"] == {"200": 1}


def stream_events(mock, path: str, body: dict, headers: dict, end: str = "\n\n") -> list[str]:
    """The raw events of a stream that ends cleanly (no transport error)."""
    with httpx.stream("POST", f"{mock.url}{path}", headers=headers, json=body, timeout=10) as response:
        assert response.status_code == 200
        text = response.read().decode()
    return [event for event in text.split(end) if event]


def test_keepalive_comments_come_before_the_first_event(mock):
    mock.patch_config({"keys": {KEY: {"faults": {"keepalive_comments": 3}}}})
    events = stream_events(mock, "/v1/chat/completions",
                           {"model": "gpt-4o-mini", "stream": True, "messages": MESSAGES},
                           {"Authorization": f"Bearer {KEY}"})
    assert events[:3] == [": keep-alive"] * 3
    assert events[3].startswith("data: {") and events[-1] == "data: [DONE]"
    # Per request too, and with the error fault counting events after the comments.
    events = stream_events(mock, "/v1/chat/completions",
                           {"model": "gpt-4o-mini", "stream": True, "messages": MESSAGES},
                           {"Authorization": f"Bearer {KEY}", "x-mock-keepalive-comments": "1",
                            "x-mock-stream-error-after-chunks": "0"})
    assert events[0] == ": keep-alive" and len(events) == 2 and '"code":"stream_error"' in events[1]


def test_stream_error_event_anthropic_and_gemini_from_config(mock):
    mock.patch_config({"keys": {KEY: {"faults": {"stream_error_after_chunks": 1}}}})
    events = stream_events(
        mock, "/v1/messages", {"model": "c", "max_tokens": 10, "stream": True, "messages": MESSAGES},
        {"x-api-key": KEY, "anthropic-version": "2023-06-01"})
    assert events[0].startswith("event: message_start\n")
    assert events[1:] == ['event: error\ndata: {"error":{"message":"Injected fault: error event in the stream '
                          '(mock-provider).","type":"overloaded_error"},"type":"error"}']
    events = stream_events(
        mock, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
        {"contents": [{"role": "user", "parts": [{"text": QUESTION}]}]}, {"x-goog-api-key": KEY}, end="\r\n\r\n")
    assert len(events) == 2 and events[0].startswith('data: {"candidates"')
    assert events[1] == ('data: {"error":{"code":500,"message":"Injected fault: error event in the stream '
                         '(mock-provider).","status":"INTERNAL"}}')
