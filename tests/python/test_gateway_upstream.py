"""What the gateway sends upstream, byte for byte, and what it lets back from an upstream that
misbehaves (echoes the key in errors, sets its own headers).

The upstream here is `EchoUpstream` (gateway_fixtures.py), a Python server that records every
request exactly as received.
"""

from __future__ import annotations

import json

import pytest

from gateway_fixtures import ACCESS_KEY, KEY_IDS, PROVIDER_KEYS, assert_no_secrets, base_config

# Odd spacing, escapes, number spellings and unknown fields: all must reach the upstream as sent.
RAW = (b'{ "model" : "gpt-4o-mini" ,"messages":[{"role":"user","content":"h\\u00e9llo \\"there\\""}],'
       b' "x_vendor_field": {"a": [1, 2.50, null, true]}, "temperature": 0.70, "seed": 1e2 }')


@pytest.fixture
def echo_gateway(start_gateway, echo_upstream):
    return start_gateway(base_config(echo_upstream.url))


def sse_answer(record):
    chunks = [
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": None}], "usage": None},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
         "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}},
    ]
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    return 200, {"Content-Type": "text/event-stream"}, body


def test_body_is_forwarded_untouched(echo_gateway, echo_upstream):
    response = echo_gateway.chat(RAW)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "echo"
    [sent] = echo_upstream.requests
    assert sent["method"] == "POST"
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"] == RAW


def test_upstream_headers(echo_gateway, echo_upstream):
    echo_gateway.chat(RAW, headers={"x-client-trace": "abc", "x-mock-status": "500", "Cookie": "session=1",
                                    "x-api-key": ACCESS_KEY, "OpenAI-Organization": "org-1"})
    [sent] = echo_upstream.requests
    assert [v for k, v in sent["header_list"] if k == "authorization"] == [f"Bearer {PROVIDER_KEYS[0]}"]
    assert sent["headers"]["content-type"] == "application/json"
    for name in ("x-client-trace", "x-mock-status", "cookie", "x-api-key", "openai-organization"):
        assert name not in sent["headers"]
    assert all(ACCESS_KEY not in value for _, value in sent["header_list"])


def test_configured_entry_headers_are_sent(start_gateway, echo_upstream):
    gateway = start_gateway(base_config(echo_upstream.url, entry={"headers": {"HTTP-Referer": "https://example.com", "X-Title": "gw"}}))
    gateway.chat(RAW)
    [sent] = echo_upstream.requests
    assert sent["headers"]["http-referer"] == "https://example.com"
    assert sent["headers"]["x-title"] == "gw"


@pytest.mark.parametrize(("requested", "sent_model"), [("mock-large", "gpt-4o"), ("mock/gpt-4o", "gpt-4o"),
                                                       ("auto-model", "gpt-4o-mini")])
def test_only_the_model_value_is_rewritten(echo_gateway, echo_upstream, requested, sent_model):
    raw = RAW.replace(b'"gpt-4o-mini"', json.dumps(requested).encode())
    assert echo_gateway.chat(raw).status_code == 200
    assert echo_upstream.requests[0]["body"] == RAW.replace(b'"gpt-4o-mini"', json.dumps(sent_model).encode())


def test_stream_asks_upstream_for_usage(echo_gateway, echo_upstream):
    echo_upstream.responder = sse_answer
    raw = RAW[:-1] + b', "stream": true }'
    response = echo_gateway.chat(raw)
    assert response.status_code == 200
    # Appended just before the closing brace; every other byte as sent.
    assert echo_upstream.requests[0]["body"] == raw[:-1] + b',"stream_options":{"include_usage":true}}'
    # The client did not ask for usage: the usage-only chunk is dropped, the rest relayed as sent.
    assert response.content == b"".join(sse_answer(None)[2].split(b"\n\n")[i] + b"\n\n" for i in (0, 1, 3))
    usage = echo_gateway.wait_usage(lambda u: u["details"]["mock"]["keys"][KEY_IDS[0]]["total_tokens"] == 11)
    assert usage["details"]["mock"]["keys"][KEY_IDS[0]]["total_tokens"] == 11


def test_stream_options_kept_and_include_usage_set(echo_gateway, echo_upstream):
    echo_upstream.responder = sse_answer
    raw = b'{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":false},"messages":[{"role":"user","content":"x"}]}'
    response = echo_gateway.chat(raw)
    assert response.status_code == 200
    sent = echo_upstream.requests[0]["body"]
    assert sent == raw.replace(b'"include_usage":false', b'"include_usage":true')
    assert b'"choices": []' not in response.content


def test_stream_with_include_usage_is_forwarded_untouched(echo_gateway, echo_upstream):
    echo_upstream.responder = sse_answer
    raw = b'{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}'
    response = echo_gateway.chat(raw)
    assert echo_upstream.requests[0]["body"] == raw
    assert response.content == sse_answer(None)[2]


# Scrubbing what comes back -------------------------------------------------------------------------

def echo_key_error(status: int, json_body: bool = True):
    def responder(record):
        secret = record["headers"]["authorization"].split(" ", 1)[1]
        # Self-hosted servers name themselves in errors; the client must not learn the address.
        where = f"http://{record['headers']['host']}/v1/chat/completions"
        if json_body:
            body = json.dumps({"error": {"message": f"Problem with key {secret} (Bearer {secret}) at {where}",
                                         "type": "invalid_request_error", "param": "messages", "code": "bad_thing"}})
        else:
            body = f"<html>key {secret} rejected</html>"
        return status, {"Content-Type": "application/json", "x-upstream-key": secret, "Retry-After": "3"}, body.encode()
    return responder


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_relayed_upstream_error_is_scrubbed(echo_gateway, echo_upstream, status):
    echo_upstream.responder = echo_key_error(status)
    response = echo_gateway.chat(RAW)
    assert response.status_code == status
    error = response.json()["error"]
    # The upstream's own error, with the key taken out.
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", "messages", "bad_thing")
    assert error["message"].startswith("Problem with key ")
    assert_no_secrets(response, echo_gateway)


@pytest.mark.parametrize(("status", "gateway_status", "code"), [
    (400, 400, "upstream_rejected"), (401, 502, "upstream_auth_failed"), (403, 502, "upstream_auth_failed"),
    (429, 429, "upstream_rate_limited"), (500, 502, "upstream_error"), (503, 502, "upstream_error"),
])
def test_upstream_errors_never_leak_the_key(echo_gateway, echo_upstream, status, gateway_status, code):
    echo_upstream.responder = echo_key_error(status, json_body=status == 401 or status >= 429)
    if status == 400:
        echo_upstream.responder = echo_key_error(400, json_body=False)
    response = echo_gateway.chat(RAW)
    assert response.status_code == gateway_status
    assert response.json()["error"]["code"] == code
    assert "x-upstream-key" not in response.headers
    assert_no_secrets(response, echo_gateway)


def test_upstream_response_headers_are_not_relayed(echo_gateway, echo_upstream):
    def responder(record):
        status, headers, body = echo_upstream.default_answer(record)
        secret = record["headers"]["authorization"].split(" ", 1)[1]
        return status, {**headers, "x-upstream-key": secret, "Set-Cookie": f"k={secret}"}, body
    echo_upstream.responder = responder
    response = echo_gateway.chat(RAW)
    assert response.status_code == 200
    assert "x-upstream-key" not in response.headers and "set-cookie" not in response.headers
    assert_no_secrets(response, echo_gateway)


def test_crlf_events_and_comments_are_relayed(echo_gateway, echo_upstream):
    def responder(record):
        _, headers, body = sse_answer(record)
        events = [b": keep-alive"] + body[:-2].split(b"\n\n")
        return 200, headers, b"".join(e + b"\r\n\r\n" for e in events)
    echo_upstream.responder = responder
    response = echo_gateway.chat(b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"x"}]}')
    sent = responder(None)[2].split(b"\r\n\r\n")[:-1]
    assert len(sent) == 5
    # Everything but the usage-only chunk (index 3), byte for byte.
    assert response.content == b"".join(sent[i] + b"\r\n\r\n" for i in (0, 1, 2, 4))
    usage = echo_gateway.wait_usage(lambda u: u["details"]["mock"]["keys"][KEY_IDS[0]]["total_tokens"] == 11)
    assert usage["details"]["mock"]["keys"][KEY_IDS[0]]["total_tokens"] == 11


def _members(body: bytes, name: str) -> list:
    return [v for k, v in json.loads(body, object_pairs_hook=lambda pairs: pairs) if k == name]


@pytest.mark.parametrize(("raw", "routed"), [
    (b'{"model":"gpt-4o-mini","model":"o1-pro","messages":[{"role":"user","content":"x"}]}', "gpt-4o-mini"),
    (b'{"model":"mock-large","model":"o1-pro","messages":[{"role":"user","content":"x"}]}', "gpt-4o"),
], ids=["served-then-unserved", "renamed-then-unserved"])
def test_duplicate_model_members_cannot_smuggle_a_model(echo_gateway, echo_upstream, raw, routed):
    """A body with two `model` members: the gateway must either refuse it (400) or make sure the
    upstream sees only the model it routed. JSON parsers disagree on duplicates (Swift's
    JSONDecoder keeps the first, Python/Go/JavaScript keep the last), so forwarding the body as
    it came lets a client pass validation with one model and be served another."""
    response = echo_gateway.chat(raw)
    if response.status_code == 400:
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert echo_upstream.requests == []
        return
    assert response.status_code == 200
    [sent] = echo_upstream.requests
    assert _members(sent["body"], "model") == [routed], sent["body"]
