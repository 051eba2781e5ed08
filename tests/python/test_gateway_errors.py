"""Every error the gateway answers itself, and every upstream failure it translates.

All errors are `{"error": {"message", "type", "param", "code"}}`; none may carry a provider key,
an access key or the upstream's address (checked on every response here).
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import time

import pytest

from gateway_fixtures import (
    ACCESS_KEY,
    HTTP,
    KEY_IDS,
    PROVIDER_KEYS,
    SECOND_ACCESS_KEY,
    _gateway_binary,
    assert_no_secrets,
    base_config,
    free_port,
    new_http_client,
)

MESSAGES = [{"role": "user", "content": "hello"}]
GOOD = {"model": "gpt-4o-mini", "messages": MESSAGES}


def error_of(response, status: int, type_: str, code: str | None, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert (body["error"]["type"], body["error"]["code"], body["error"]["param"]) == (type_, code, param), body
    return body["error"]


def assert_untouched(gateway, upstream) -> None:
    """Nothing reached the upstream and nothing was counted."""
    assert upstream.stats()["requests"] == 0
    overview = gateway.usage()["overview"]["mock"]
    assert overview["total_requests"] == 0


# 400 -------------------------------------------------------------------------------------------

INVALID = [
    (b"{not json", None, "invalid_json"),
    (b"", None, "invalid_json"),
    (b'{"model": "gpt-4o-mini", "messages": [', None, "invalid_json"),
    (b"[1, 2]", None, None),
    (b'"a string"', None, None),
    (json.dumps({"messages": MESSAGES}).encode(), "model", "missing_required_parameter"),
    (json.dumps({"model": None, "messages": MESSAGES}).encode(), "model", "missing_required_parameter"),
    (json.dumps({"model": 42, "messages": MESSAGES}).encode(), "model", "invalid_type"),
    (json.dumps({"model": ["gpt-4o-mini"], "messages": MESSAGES}).encode(), "model", "invalid_type"),
    (json.dumps({"model": "gpt-4o-mini"}).encode(), "messages", "missing_required_parameter"),
    (json.dumps({"model": "gpt-4o-mini", "messages": "hello"}).encode(), "messages", "invalid_type"),
    (json.dumps({"model": "gpt-4o-mini", "messages": {"role": "user"}}).encode(), "messages", "invalid_type"),
    (json.dumps({"model": "gpt-4o-mini", "messages": ["hello"]}).encode(), "messages", "invalid_type"),
    (json.dumps({"model": "gpt-4o-mini", "messages": []}).encode(), "messages", "empty_array"),
    (json.dumps({**GOOD, "stream": "yes"}).encode(), "stream", "invalid_type"),
    (json.dumps({**GOOD, "stream": 1}).encode(), "stream", "invalid_type"),
    (json.dumps({**GOOD, "max_tokens": "10"}).encode(), "max_tokens", "invalid_type"),
    (json.dumps({**GOOD, "max_tokens": 1.5}).encode(), "max_tokens", "invalid_type"),
    (json.dumps({**GOOD, "max_tokens": 0}).encode(), "max_tokens", "invalid_value"),
    # The error names the member the client sent (max_completion_tokens wins over max_tokens).
    (json.dumps({**GOOD, "max_completion_tokens": 0, "max_tokens": 5}).encode(), "max_completion_tokens", "invalid_value"),
    # Duplicates are refused inside stream_options too: the gateway read the first
    # include_usage, the upstream the last, so the usage chunk was stripped from a client that
    # asked for it (or kept for one that did not).
    (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": true,'
     b' "stream_options": {"include_usage": false, "include_usage": true}}', "stream_options.include_usage", "duplicate_parameter"),
    (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": true,'
     b' "stream_options": {"include_usage": true, "include_usage": false}}', "stream_options.include_usage", "duplicate_parameter"),
    # JSONDecoder reads these; the duplicate check cannot, so they are refused (a second
    # "model" member here would otherwise pass it).
    (b"\xef\xbb\xbf" + b'{"model": "gpt-4o-mini", "model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}',
     None, "invalid_json"),
    (json.dumps(GOOD).encode("utf-16"), None, "invalid_json"),
]


@pytest.mark.parametrize(("body", "param", "code"), INVALID, ids=[f"{i}-{c}-{p}" for i, (_, p, c) in enumerate(INVALID)])
def test_invalid_request_400(gateway, upstream, body, param, code):
    response = gateway.chat(body)
    error_of(response, 400, "invalid_request_error", code, param)
    assert_no_secrets(response, gateway)
    assert_untouched(gateway, upstream)


def _chat_bytes(content: bytes = b"hi", extra: bytes = b"") -> bytes:
    return b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"' + content + b'"}]' + extra + b"}"


# Bodies Foundation's JSONDecoder reads (it never looks inside message contents) and the gateway
# used to route, count and forward, for the provider to refuse: RFC 8259 and the providers do not
# take them, so the gateway answers them itself.
LENIENT = {
    "trailing comma in the object": _chat_bytes(extra=b","),
    "trailing comma in an array": b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"},]}',
    "trailing comma in a message": b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi",}]}',
    "leading zero in max_tokens": _chat_bytes(extra=b',"max_tokens":01'),
    "leading zero in a forwarded number": _chat_bytes(extra=b',"temperature":00.5'),
    "a number ending in a dot": _chat_bytes(extra=b',"temperature":1.'),
    "a lone minus": _chat_bytes(extra=b',"temperature":-'),
    "raw control character U+0001": _chat_bytes(b"h\x01i"),
    "raw line feed": _chat_bytes(b"h\ni"),
    "raw NUL": _chat_bytes(b"h\x00i"),
    "raw U+001F": _chat_bytes(b"h\x1fi"),
    "an unknown escape": _chat_bytes(b"h\\qi"),
    "invalid UTF-8 byte": _chat_bytes(b"h\xffi"),
    "overlong UTF-8": _chat_bytes(b"h\xc0\xafi"),
    "UTF-8 encoded surrogate": _chat_bytes(b"h\xed\xa0\x80i"),
    "truncated UTF-8": _chat_bytes(b"h\xe2\x82"),
}


@pytest.mark.parametrize("body", LENIENT.values(), ids=LENIENT.keys())
def test_json_foundation_accepts_but_rfc_8259_does_not_is_invalid_json(gateway, upstream, body):
    response = gateway.chat(body)
    error = error_of(response, 400, "invalid_request_error", "invalid_json")
    assert "at offset" in error["message"]
    assert_untouched(gateway, upstream)


def test_json_nested_past_512_levels_says_so(gateway, upstream):
    """JSONDecoder reads at most 512 nested containers; deeper (valid) JSON is a 400 that says
    why and where, not a parse error with no reason. 512 deep is served."""
    def nested(arrays: int) -> bytes:
        return _chat_bytes(extra=b',"metadata_x":' + b"[" * arrays + b"]" * arrays)
    assert gateway.chat(nested(511)).status_code == 200
    error = error_of(gateway.chat(nested(512)), 400, "invalid_request_error", "invalid_json")
    offset = nested(512).index(b"[" * 512) + 511
    assert error["message"] == f"The JSON body of your request is nested more than 512 levels deep (at offset {offset})."
    assert upstream.stats()["requests"] == 1


def test_strictly_valid_json_is_still_served(gateway, upstream):
    """Escapes, multi-byte UTF-8 and every number form RFC 8259 has pass the strict check."""
    content = rb"\"\\\/\b\f\n\r\t\u00e9 \ud83d\ude00 " + "é 日本 😀 \x7f".encode()
    body = _chat_bytes(content, b',"temperature":0.5,"top_p":1E0,"presence_penalty":-0,"frequency_penalty":-0.5e-1,"max_tokens":10')
    response = gateway.chat(body)
    assert response.status_code == 200, response.text
    assert upstream.stats()["requests"] == 1


def test_invalid_body_without_auth_is_401_first(gateway, upstream):
    response = gateway.chat(b"{not json", key=None)
    error_of(response, 401, "invalid_request_error", "invalid_api_key")


# 401 -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {ACCESS_KEY}"},
        {"Authorization": f"Bearer {ACCESS_KEY}x"},
        {"Authorization": f"Bearer {PROVIDER_KEYS[0]}"},  # a provider key is not an access key
        {"x-api-key": "wrong-key"},
    ],
    ids=["none", "wrong", "empty", "basic", "suffix", "provider-key", "x-api-key-wrong"],
)
def test_unauthorized_401(gateway, upstream, headers):
    response = gateway.chat(GOOD, key=None, headers=headers)
    error_of(response, 401, "invalid_request_error", "invalid_api_key")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_no_secrets(response, gateway)
    assert_untouched(gateway, upstream)


def test_x_api_key_is_read_past_an_authorization_header_of_another_scheme(gateway, upstream):
    """A proxy in front may add Basic credentials; the access key in x-api-key still counts.
    An Authorization header that carries no Bearer key is named as the problem."""
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    response = gateway.chat(GOOD, key=None, headers={**basic, "x-api-key": ACCESS_KEY})
    assert response.status_code == 200
    error = error_of(gateway.chat(GOOD, key=None, headers=basic), 401, "invalid_request_error", "invalid_api_key")
    assert error["message"].startswith("The Authorization header carries no access key.")
    error = error_of(gateway.chat(GOOD, key=None), 401, "invalid_request_error", "invalid_api_key")
    assert error["message"].startswith("Missing access key.")
    # A Bearer key wins over x-api-key.
    error_of(gateway.chat(GOOD, key="wrong-key", headers={"x-api-key": ACCESS_KEY}), 401, "invalid_request_error", "invalid_api_key")
    assert upstream.stats()["requests"] == 1


@pytest.mark.parametrize("path", ["/v1/usage", "/v1/models", "/v1/models/gpt-4o"])
def test_other_endpoints_need_the_access_key(gateway, path):
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = HTTP.get(f"{gateway.url}{path}", headers=headers)
        error_of(response, 401, "invalid_request_error", "invalid_api_key")
        assert response.headers["www-authenticate"] == "Bearer"
    assert HTTP.get(f"{gateway.url}{path}", headers={"Authorization": f"Bearer {SECOND_ACCESS_KEY}"}).status_code == 200


# 404 / 405 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["gpt-5", "unknown/gpt-4o", "mock/", "GPT-4O-MINI", "auto-model-x"])
def test_unserved_model_404(gateway, upstream, model):
    response = gateway.chat({"model": model, "messages": MESSAGES})
    error = error_of(response, 404, "invalid_request_error", "model_not_found", "model")
    assert model in error["message"]
    assert_no_secrets(response, gateway)
    assert_untouched(gateway, upstream)


def test_a_long_unserved_model_is_not_repeated_whole(gateway, upstream):
    """The 404 names the model, but a model of tens of kilobytes (the body allows it) is cut to
    its first 256 characters in the message and in the request's log line."""
    model = "m" * 256 + "z" * 40_000
    response = gateway.chat({"model": model, "messages": MESSAGES})
    error = error_of(response, 404, "invalid_request_error", "model_not_found", "model")
    assert error["message"] == f"The model '{'m' * 256}…' does not exist or is not served by this gateway."
    assert len(response.content) < 1_000
    assert_untouched(gateway, upstream)
    def logged():
        return [json.loads(l) for l in gateway.log().splitlines() if l.startswith("{") and "m" * 256 in l]
    deadline = time.monotonic() + 5
    while not logged() and time.monotonic() < deadline:
        time.sleep(0.02)
    [line] = logged()
    assert line["model_requested"] == "m" * 256 + "…"
    assert "z" * 16 not in gateway.log()


def test_a_long_content_encoding_is_not_repeated_whole(gateway, upstream):
    coding = "x" * 4_000
    response = gateway.chat(GOOD, headers={"Content-Encoding": coding})
    error = error_of(response, 415, "invalid_request_error", "unsupported_content_encoding")
    assert f"'{'x' * 256}…'" in error["message"] and len(error["message"]) < 400
    assert_untouched(gateway, upstream)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/nothing"), ("POST", "/v2/chat/completions"), ("GET", "/"), ("POST", "/v1/chat/completions/extra")],
)
def test_unknown_url_404(gateway, method, path):
    response = HTTP.request(method, f"{gateway.url}{path}", headers=gateway.headers(), json=GOOD)
    error_of(response, 404, "invalid_request_error", "unknown_url")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("GET", "/v1/chat/completions", "POST"), ("GET", "/chat/completions", "POST"), ("PUT", "/v1/chat/completions", "POST"),
     ("POST", "/v1/models", "GET, HEAD"), ("DELETE", "/v1/models/gpt-4o", "GET, HEAD"), ("DELETE", "/v1/usage", "GET, HEAD"),
     ("POST", "/health", "GET, HEAD"), ("HEAD", "/v1/chat/completions", "POST")],
)
def test_wrong_method_405(gateway, upstream, method, path, allow):
    response = HTTP.request(method, f"{gateway.url}{path}", headers=gateway.headers())
    if method == "HEAD":
        assert response.status_code == 405 and response.content == b""
    else:
        error_of(response, 405, "invalid_request_error", "method_not_allowed")
    # RFC 9110: a 405 lists the methods the resource serves.
    assert response.headers["allow"] == allow
    assert upstream.stats()["requests"] == 0


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics", "/v1/models", "/v1/models/mock/gpt-4o", "/v1/usage"])
def test_head_on_the_get_routes(gateway, path):
    """Monitors and load balancers probe with HEAD: the GET answer's head, no body."""
    response = HTTP.head(f"{gateway.url}{path}", headers=gateway.headers())
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-type"] == HTTP.get(f"{gateway.url}{path}", headers=gateway.headers()).headers["content-type"]
    if path.startswith("/v1/models"):
        assert int(response.headers["content-length"]) == len(HTTP.get(f"{gateway.url}{path}", headers=gateway.headers()).content)
    # The access key is still needed, and the connection stays usable after a bodiless 401.
    with new_http_client() as client:
        denied = client.head(f"{gateway.url}{path}")
        assert denied.status_code == (200 if path in ("/health", "/ready", "/metrics") else 401) and denied.content == b""
        assert client.get(f"{gateway.url}/health").status_code == 200


# 413 -------------------------------------------------------------------------------------------

def _big_body(size: int) -> bytes:
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * size}]}).encode()
    return body


def test_body_at_the_limit_passes_and_over_it_is_413(gateway, upstream):
    overhead = len(_big_body(0))
    at_limit = _big_body(65536 - overhead)
    assert len(at_limit) == 65536
    assert gateway.chat(at_limit).status_code == 200
    over = _big_body(65537 - overhead)
    response = gateway.chat(over)
    error_of(response, 413, "invalid_request_error", "request_too_large")
    assert upstream.stats()["requests"] == 1


def _chunked(body: bytes):
    for start in range(0, len(body), 8192):
        yield body[start:start + 8192]


def test_chunked_body_under_the_limit_passes(gateway, upstream):
    response = HTTP.post(f"{gateway.url}/v1/chat/completions", content=_chunked(_big_body(30_000)), headers=gateway.headers())
    assert "content-length" not in response.request.headers
    assert response.status_code == 200


def test_chunked_body_over_the_limit_is_413(gateway, upstream):
    """A body sent without Content-Length (chunked) that passes max_body_bytes is too large,
    exactly like one announced by Content-Length: 413 request_too_large, not a 400."""
    response = HTTP.post(f"{gateway.url}/v1/chat/completions", content=_chunked(_big_body(200_000)), headers=gateway.headers())
    assert "content-length" not in response.request.headers
    error_of(response, 413, "invalid_request_error", "request_too_large")
    assert_untouched(gateway, upstream)


# 415 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions"])
@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "br", "deflate", "identity, gzip"])
def test_content_coded_body_is_415(gateway, upstream, path, encoding):
    """The gateway decodes no content coding: a compressed body is a 415 naming the coding, not
    a 400 invalid_json (nor, when the bytes happen to be JSON, a request served as if plain)."""
    for body in (gzip.compress(json.dumps(GOOD).encode()), json.dumps(GOOD).encode()):
        response = gateway.chat(body, headers={"Content-Encoding": encoding}, path=path)
        error = error_of(response, 415, "invalid_request_error", "unsupported_content_encoding")
        assert encoding.split(", ")[-1] in error["message"]
        assert response.headers["accept-encoding"] == "identity"
        assert_no_secrets(response, gateway)
    assert_untouched(gateway, upstream)
    # The access key still comes first.
    error_of(gateway.chat(GOOD, key=None, headers={"Content-Encoding": encoding}, path=path), 401, "invalid_request_error", "invalid_api_key")


@pytest.mark.parametrize("encoding", ["identity", "Identity", ""])
def test_identity_content_encoding_is_served(gateway, upstream, encoding):
    assert gateway.chat(GOOD, headers={"Content-Encoding": encoding}).status_code == 200
    assert upstream.stats()["requests"] == 1


# 429 from the gateway's own limits -------------------------------------------------------------

def test_local_rate_limit_429(start_gateway, upstream):
    gateway = start_gateway(base_config(upstream.url, entry={"key": [PROVIDER_KEYS[0]], "max_request_min": 2}))
    assert [gateway.chat(GOOD).status_code for _ in range(2)] == [200, 200]
    response = gateway.chat(GOOD)
    error_of(response, 429, "rate_limit_error", "rate_limit_exceeded")
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert_no_secrets(response, gateway)
    assert upstream.stats()["requests"] == 2
    usage = gateway.usage()
    assert usage["details"]["mock"]["keys"][KEY_IDS[0]]["requests"] == 2
    assert usage["details"]["mock"]["keys"][KEY_IDS[0]]["status"] == "limited"
    assert usage["overview"]["mock"]["available_keys"] == 0


@pytest.mark.parametrize("store", ["memory", "redis"])
@pytest.mark.parametrize("limit", ["max_token_min", "max_token_day"])
def test_request_larger_than_every_keys_token_limit_is_400(start_gateway, upstream, redis_server, store, limit):
    """A request estimated above a key's per-minute or per-day token limit fits no key, ever:
    400 token_limit_exceeded naming the sizes, no Retry-After (a 429 would have clients retry
    forever), nothing reserved and nothing sent. A request that fits is still served."""
    redis = {"redis": redis_server.url} if store == "redis" else {}
    gateway = start_gateway(base_config(upstream.url, entry={limit: 500}, **redis))
    # "hello" body: about 20 prompt tokens estimated, plus max_tokens.
    response = gateway.chat({**GOOD, "max_tokens": 600})
    error = error_of(response, 400, "invalid_request_error", "token_limit_exceeded", "max_tokens")
    window = "minute" if limit == "max_token_min" else "day"
    assert f"the 500 tokens a {window} any key for 'gpt-4o-mini' may use" in error["message"]
    assert "retry-after" not in response.headers
    assert response.headers["x-gateway-attempts"] == "0"
    assert_no_secrets(response, gateway)
    assert_untouched(gateway, upstream)
    assert all(k["rate_limit_windows"]["tokens_min"] == 0 for k in gateway.key_usage().values())
    # The message and param name the member the client used.
    response = gateway.chat({**GOOD, "max_completion_tokens": 600})
    error = error_of(response, 400, "invalid_request_error", "token_limit_exceeded", "max_completion_tokens")
    assert "Lower max_completion_tokens" in error["message"]
    assert gateway.chat({**GOOD, "max_tokens": 400}).status_code == 200
    assert upstream.stats()["requests"] == 1


def test_too_large_for_one_candidate_goes_to_the_next(start_gateway, upstream):
    """auto-model: the first model's keys may use 500 tokens a minute, the request needs more,
    so the second model serves it. Were the second full, the answer would be its 429."""
    config = base_config(upstream.url, entry={"key": [PROVIDER_KEYS[0]], "models": ["gpt-4o-mini"], "model_map": {},
                                              "max_token_min": 500}, **{"auto-models": ["gpt-4o-mini", "gpt-4o"]})
    config["provider_keys"].append({"provider": "mock2", "type": "openai", "base_url": f"{upstream.url}/v1",
                                    "models": ["gpt-4o"], "key": [PROVIDER_KEYS[1]], "max_request_min": 1})
    gateway = start_gateway(config)
    body = {"model": "auto-model", "messages": MESSAGES, "max_tokens": 600}
    response = gateway.chat(body)
    assert response.status_code == 200, response.text
    assert (response.headers["x-gateway-provider"], response.headers["x-gateway-key-id"]) == ("mock2", KEY_IDS[1])
    assert upstream.key_stats(PROVIDER_KEYS[0])["requests"] == 0
    # mock2 now full for the minute, mock too small: the full window decides, with its retry time.
    error_of(gateway.chat(body), 429, "rate_limit_error", "rate_limit_exceeded")


# Upstream failures -----------------------------------------------------------------------------

def test_upstream_429_on_every_key_is_upstream_rate_limited(gateway, upstream):
    """Every key tried once (failover), each cooled down for the upstream's Retry-After."""
    upstream.patch_config({"faults": {"status": 429, "retry_after": 7}})
    response = gateway.chat(GOOD)
    error_of(response, 429, "rate_limit_error", "upstream_rate_limited")
    assert response.headers["retry-after"] == "7"
    assert response.headers["x-gateway-attempts"] == "3"
    assert response.headers["x-gateway-key-id"] in KEY_IDS
    assert response.headers["x-gateway-model"] == "gpt-4o-mini"
    assert_no_secrets(response, gateway)
    assert upstream.stats()["statuses"] == {"429": 3}
    assert {k: upstream.key_stats(k)["requests"] for k in PROVIDER_KEYS} == {k: 1 for k in PROVIDER_KEYS}
    keys = gateway.key_usage()
    assert {keys[k]["status"] for k in KEY_IDS} == {"cooling_down"}
    assert {keys[k]["cooldown_reason"] for k in KEY_IDS} == {"rate_limited"}
    # Cooling keys get no traffic: the gateway answers 429 itself, without an upstream request.
    again = gateway.chat(GOOD)
    error_of(again, 429, "rate_limit_error", "rate_limit_exceeded")
    assert again.headers["x-gateway-attempts"] == "0"
    assert 1 <= int(again.headers["retry-after"]) <= 7
    assert upstream.stats()["requests"] == 3


def test_upstream_429_without_retry_after_uses_the_default_cooldown(start_gateway, echo_upstream):
    gw = start_gateway(base_config(echo_upstream.url, failover={"rate_limit_cooldown_seconds": 45}))
    echo_upstream.responder = lambda r: (429, {"Content-Type": "application/json"},
                                         b'{"error":{"message":"slow down","type":"requests","param":null,"code":null}}')
    response = gw.chat(GOOD)
    error_of(response, 429, "rate_limit_error", "upstream_rate_limited")
    assert response.headers["retry-after"] == "45"
    assert len(echo_upstream.requests) == 3


@pytest.mark.parametrize("status", [500, 503, 529])
def test_upstream_5xx_on_every_key_is_502(gateway, upstream, status):
    upstream.patch_config({"faults": {"status": status}})
    response = gateway.chat(GOOD)
    error_of(response, 502, "upstream_error", "upstream_error")
    assert response.headers["x-gateway-provider"] == "mock"
    assert response.headers["x-gateway-attempts"] == "3"
    assert_no_secrets(response, gateway)
    assert upstream.stats()["statuses"] == {str(status): 3}


def test_upstream_5xx_on_a_stream_request_is_502(gateway, upstream):
    upstream.patch_config({"faults": {"status": 500}})
    response = gateway.chat({**GOOD, "stream": True})
    error_of(response, 502, "upstream_error", "upstream_error")
    assert response.headers["x-gateway-attempts"] == "3"


@pytest.mark.parametrize("status", [401, 403])
def test_upstream_auth_failure_on_every_key_is_502(gateway, upstream, status):
    upstream.patch_config({"faults": {"status": status}})
    response = gateway.chat(GOOD)
    error = error_of(response, 502, "upstream_error", "upstream_auth_failed")
    assert response.headers["x-gateway-key-id"] in error["message"]  # the key's id, never the key
    assert response.headers["x-gateway-attempts"] == "3"
    assert_no_secrets(response, gateway)
    assert {k["status"] for k in gateway.key_usage().values()} == {"disabled"}
    # Every key disabled: the gateway answers itself, and not with a 429 (no limit was hit),
    # with the time the first key comes back (failover.auth_disable_seconds).
    again = gateway.chat(GOOD)
    error_of(again, 503, "service_unavailable", "keys_unavailable")
    assert again.headers["x-gateway-attempts"] == "0"
    assert 3590 <= int(again.headers["retry-after"]) <= 3600
    assert_no_secrets(again, gateway)
    assert upstream.stats()["requests"] == 3


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_every_key_cooling_after_5xx_is_503_not_429(start_gateway, upstream, redis_server, store):
    """With the circuit breaker off, keys cooling down after upstream errors are still not a
    rate limit: 503 keys_unavailable with the cooldown's end, from either store."""
    redis = {"redis": redis_server.url} if store == "redis" else {}
    gateway = start_gateway(base_config(
        upstream.url, failover={"circuit_breaker_seconds": 0, "error_cooldown_seconds": 20}, **redis))
    upstream.patch_config({"faults": {"status": 500}})
    error_of(gateway.chat(GOOD), 502, "upstream_error", "upstream_error")
    again = gateway.chat(GOOD)
    error_of(again, 503, "service_unavailable", "keys_unavailable")
    assert (again.headers["x-gateway-attempts"], again.headers["retry-after"]) == ("0", "20")
    assert upstream.stats()["requests"] == 3


def test_key_unknown_to_upstream_is_upstream_auth_failed(start_gateway, upstream):
    gateway = start_gateway(base_config(upstream.url, entry={"key": ["sk-mock-unknown-9999"]}))
    response = gateway.chat(GOOD)
    error_of(response, 502, "upstream_error", "upstream_auth_failed")
    assert_no_secrets(response, gateway)
    assert upstream.stats()["by_key"]["sk-mock-unknown-9999"]["statuses"] == {"401": 1}


@pytest.mark.parametrize("status", [400, 404, 422])
def test_upstream_client_errors_are_relayed(gateway, upstream, status):
    upstream.patch_config({"faults": {"status": status}})
    response = gateway.chat(GOOD)
    assert response.status_code == status
    # The mock's own error body, as it sent it.
    direct = HTTP.post(f"{upstream.url}/v1/chat/completions", json=GOOD,
                       headers={"Authorization": f"Bearer {PROVIDER_KEYS[1]}"})
    assert direct.status_code == status
    assert response.json() == direct.json()
    assert response.headers["x-gateway-key-id"] == KEY_IDS[0]
    assert_no_secrets(response, gateway)


def test_upstream_unreachable_502(start_gateway, upstream):
    closed = free_port()
    # Penalties short enough, and the breaker off, so each request finds every key again.
    gateway = start_gateway(base_config(
        f"http://127.0.0.1:{closed}", failover={"circuit_breaker_seconds": 0, "error_cooldown_seconds": 0.001}))
    for body in (GOOD, {**GOOD, "stream": True}):
        start = time.monotonic()
        response = gateway.chat(body)
        assert time.monotonic() - start < 2
        error_of(response, 502, "upstream_error", "upstream_unreachable")
        assert str(closed) not in response.text
        assert_no_secrets(response, gateway)
        assert response.headers["x-gateway-attempts"] == "3"
    # Never reached, so not counted.
    assert gateway.usage()["overview"]["mock"]["total_requests"] == 0


def test_upstream_timeout_504(start_gateway, upstream):
    gateway = start_gateway(base_config(
        upstream.url, server={"upstream_timeout_seconds": 0.5}, failover={"max_attempts": 1, "error_cooldown_seconds": 0.01}))
    upstream.patch_config({"faults": {"latency_ms": 1500}})
    for body in (GOOD, {**GOOD, "stream": True}):
        start = time.monotonic()
        response = gateway.chat(body)
        elapsed = time.monotonic() - start
        error_of(response, 504, "upstream_error", "upstream_timeout")
        assert response.headers["x-gateway-attempts"] == "1"
        assert 0.4 <= elapsed < 1.3
        assert_no_secrets(response, gateway)


def test_upstream_hang_504(start_gateway, upstream):
    gateway = start_gateway(base_config(
        upstream.url, server={"upstream_timeout_seconds": 0.5}, failover={"max_attempts": 1}))
    upstream.patch_config({"faults": {"hang": True}})
    response = gateway.chat(GOOD)
    error_of(response, 504, "upstream_error", "upstream_timeout")
    upstream.patch_config({"faults": {}})
    assert gateway.chat(GOOD).status_code == 200


def test_upstream_cut_json_body_is_502(gateway, upstream):
    upstream.patch_config({"faults": {"cut_after_chunks": 1}})
    response = gateway.chat(GOOD)
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_error"
    assert_no_secrets(response, gateway)


# Secrets ---------------------------------------------------------------------------------------

def test_client_authorization_never_reaches_upstream(gateway, upstream):
    gateway.chat(GOOD)
    gateway.chat({**GOOD, "stream": True})
    gateway.chat(GOOD, key=None, headers={"x-api-key": ACCESS_KEY})
    stats = upstream.stats()
    assert stats["requests"] == 3
    assert set(stats["by_key"]) <= set(PROVIDER_KEYS)
    assert ACCESS_KEY not in json.dumps(stats)


def test_log_holds_no_secret(start_gateway, upstream):
    gateway = start_gateway(base_config(upstream.url, server={"upstream_timeout_seconds": 0.5}))
    responses = [gateway.chat(GOOD), gateway.chat(GOOD, key="wrong")]
    for faults in ({"status": 401}, {"status": 500}, {"status": 429}, {"latency_ms": 800}, {"cut_after_chunks": 1}):
        upstream.patch_config({"faults": faults})
        responses.append(gateway.chat(GOOD))
    with new_http_client() as client:
        upstream.patch_config({"faults": {"cut_after_chunks": 2}})
        responses.append(client.post(
            f"{gateway.url}/v1/chat/completions", json={**GOOD, "stream": True}, headers=gateway.headers()))
    # The log writer writes what gathered every 50 ms: wait for every request's line, so the
    # sweep below covers them all.
    deadline = time.monotonic() + 5
    while gateway.log().count('"msg":"request"') < len(responses):
        assert time.monotonic() < deadline, gateway.log()
        time.sleep(0.02)
    log = gateway.log()
    for secret in [ACCESS_KEY, SECOND_ACCESS_KEY, *PROVIDER_KEYS]:
        assert secret not in log


@pytest.mark.parametrize("arguments, message", [
    (["--port", "70000"], "--port must be an integer from 1 to 65535"),
    (["--port", "0"], "--port must be an integer from 1 to 65535"),
    (["--redis", "redis://:hunter2-secret@127.0.0.1:99999"], "--redis is not a usable Redis URL: port 99999 out of range"),
    (["--redis", "redis://:hunter2-secret@127.0.0.1:6379?pool=0"], "--redis is not a usable Redis URL: pool=0 must be an integer from 1 to 64"),
    (["--redis", "rediss://:hunter2-secret@127.0.0.1:6379"], "--redis is not a usable Redis URL: TLS (rediss://) is not supported"),
])
def test_bad_command_line_values_stop_before_start(tmp_path, upstream, arguments, message):
    # A usage error (64) naming the option, before anything listens or connects; the password in
    # a bad --redis is never echoed.
    config = tmp_path / "config.json"
    config.write_text(json.dumps(base_config(upstream.url)))
    result = subprocess.run([str(_gateway_binary()), "--config", str(config), *arguments],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 64, result.stdout + result.stderr
    assert message in result.stderr
    assert "hunter2-secret" not in result.stdout + result.stderr


# Idle clients ----------------------------------------------------------------------------------

def test_idle_and_slow_clients_are_disconnected_but_slow_answers_are_not(start_gateway, upstream):
    """server.client_idle_timeout_seconds: a connection that sends nothing (between requests,
    mid-head, mid-body) is closed after it, so slow or stuck clients cannot hold connections for
    good; the time the gateway spends on an answer does not count."""
    gateway = start_gateway(base_config(upstream.url, server={"client_idle_timeout_seconds": 1}))
    partial_body = json.dumps(GOOD).encode()
    openings = {
        "idle": b"",
        "half a head": b"POST /v1/chat/completions HTTP/1.1\r\nHost: g\r\n",
        "half a body": (f"POST /v1/chat/completions HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {ACCESS_KEY}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(partial_body)}\r\n\r\n").encode()
                       + partial_body[:10],
    }
    sockets = {}
    for name, opening in openings.items():
        sock = socket.create_connection(("127.0.0.1", gateway.port))
        sock.sendall(opening)
        sockets[name] = sock
    start = time.monotonic()
    for name, sock in sockets.items():
        sock.settimeout(5)
        try:
            rest = sock.recv(65536)
        except ConnectionResetError:
            rest = b""
        # Closed without an answer (or with a 400 for the cut request), within the timeout.
        assert rest == b"" or rest.startswith(b"HTTP/1.1 400"), (name, rest[:200])
        sock.close()
    assert 0.8 <= time.monotonic() - start < 3.5
    assert upstream.stats()["requests"] == 0

    # Answers that take longer than the idle timeout are not cut, one after the other on one
    # kept-alive connection.
    upstream.patch_config({"faults": {"latency_ms": 1500}})
    with new_http_client(timeout=10) as client:
        for _ in range(2):
            response = client.post(f"{gateway.url}/v1/chat/completions", json=GOOD, headers=gateway.headers())
            assert response.status_code == 200


def test_expect_100_continue_is_answered_at_once(gateway, upstream):
    """curl sends `Expect: 100-continue` for bodies over 1 MiB and waits (1 s) for the interim
    answer before sending the body: the gateway sends it as the head arrives."""
    body = json.dumps(GOOD).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: g\r\nAuthorization: Bearer {ACCESS_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        for _ in range(2):  # and again on the kept-alive connection
            sock.sendall(head)
            assert sock.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(body)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]
    assert upstream.stats()["requests"] == 2


# Connection persistence ------------------------------------------------------------------------

def _raw_request(method: str, path: str, version: str = "HTTP/1.1", headers: dict | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} {version}", "Host: g", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _read_until_closed(sock: socket.socket, timeout: float = 3.0) -> tuple[bytes, bool]:
    """Everything the gateway sends, and whether it closed the connection within `timeout`."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except socket.timeout:
        return data, False
    return data, True


def _head(answer: bytes) -> tuple[str, dict]:
    """The status line and the headers (lower-cased names) of the first answer in `answer`."""
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    status, *lines = head.split("\r\n")
    return status, {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}


def _chat_headers(key: str | None = ACCESS_KEY) -> dict:
    return {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}


HTTP_10_EXCHANGES = {
    "health": ("GET", "/health", None, b"", 200),
    "head": ("HEAD", "/health", None, b"", 200),
    "chat": ("POST", "/v1/chat/completions", ACCESS_KEY, json.dumps(GOOD).encode(), 200),
    "stream": ("POST", "/v1/chat/completions", ACCESS_KEY, json.dumps({**GOOD, "stream": True}).encode(), 200),
    "401": ("POST", "/v1/chat/completions", None, json.dumps(GOOD).encode(), 401),
    "404": ("GET", "/v1/nothing", ACCESS_KEY, b"", 404),
}


@pytest.mark.parametrize("exchange", HTTP_10_EXCHANGES.values(), ids=HTTP_10_EXCHANGES.keys())
def test_http_1_0_answer_ends_the_connection(gateway, upstream, exchange):
    """HTTP/1.0 without `Connection: keep-alive`: the client reads until the connection closes,
    so the gateway closes it after the answer (it kept it open until the idle timeout). The
    answer is HTTP/1.0 and a stream comes without chunked coding, which HTTP/1.0 lacks."""
    method, path, key, body, status = exchange
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(_raw_request(method, path, "HTTP/1.0", _chat_headers(key) if body else {}, body))
        start = time.monotonic()
        answer, closed = _read_until_closed(sock)
    assert closed and time.monotonic() - start < 1.0, answer[:300]
    status_line, headers = _head(answer)
    assert status_line.startswith(f"HTTP/1.0 {status} "), status_line
    assert headers["connection"] == "close"
    assert "transfer-encoding" not in headers
    if path == "/v1/chat/completions" and b'"stream": true' in body:
        assert answer.endswith(b"data: [DONE]\n\n")
    elif method != "HEAD":
        assert len(answer.split(b"\r\n\r\n", 1)[1]) == int(headers["content-length"])


def test_http_1_0_keep_alive_is_kept_when_the_answer_has_a_length(gateway, upstream):
    """`Connection: keep-alive` on HTTP/1.0 keeps the connection (the answer says so) while the
    answer has a length; a stream, which only the close can end for HTTP/1.0, closes it. Nothing
    is sent to an HTTP/1.0 client before its answer (no 100 Continue: RFC 9110, 15.2)."""
    keep = {"Connection": "keep-alive"}
    body = json.dumps(GOOD).encode()
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        for request in (_raw_request("GET", "/health", "HTTP/1.0", keep),
                        _raw_request("POST", "/v1/chat/completions", "HTTP/1.0", {**_chat_headers(), **keep}, body)):
            sock.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < int(_head(answer)[1]["content-length"]):
                answer += sock.recv(65536)
            status_line, headers = _head(answer)
            assert status_line.startswith("HTTP/1.0 200 ") and headers["connection"] == "keep-alive"
        stream = json.dumps({**GOOD, "stream": True}).encode()
        sock.sendall(_raw_request("POST", "/v1/chat/completions", "HTTP/1.0",
                                  {**_chat_headers(), **keep, "Expect": "100-continue"}, stream))
        answer, closed = _read_until_closed(sock)
    assert closed
    status_line, headers = _head(answer)
    assert status_line.startswith("HTTP/1.0 200 ") and headers["connection"] == "close"
    assert answer.endswith(b"data: [DONE]\n\n")
    assert upstream.stats()["requests"] == 2


@pytest.mark.parametrize("connection", ["close", "Close", "CLOSE", "keep-alive, close", "TE, close"])
def test_connection_close_on_http_1_1_ends_the_connection(gateway, upstream, connection):
    """`Connection: close` in any case or among other tokens ends the connection after the
    answer (only an exact `close` did), and requests pipelined behind it are neither answered
    nor sent upstream."""
    body = json.dumps(GOOD).encode()
    first = _raw_request("POST", "/v1/chat/completions", headers={**_chat_headers(), "Connection": connection}, body=body)
    behind = _raw_request("POST", "/v1/chat/completions", headers=_chat_headers(), body=body)
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        sock.sendall(first + behind + behind)
        answer, closed = _read_until_closed(sock)
    assert closed, answer[:300]
    status_line, headers = _head(answer)
    assert status_line.startswith("HTTP/1.1 200 ") and headers["connection"] == "close"
    assert answer.count(b"HTTP/1.1 ") == 1
    assert upstream.stats()["requests"] == 1

