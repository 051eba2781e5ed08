"""Observability (issue 11), end to end: a real gateway on a real redis-server in front of
mock-provider, known traffic, then /metrics parsed with prometheus_client's text parser and the
request log lines parsed as JSON; and a sweep for secrets through everything the gateway writes
or answers, Redis's keyspace included.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway_fixtures import (
    ACCESS_KEY, KEY_IDS, PROVIDER_KEYS, SECOND_ACCESS_KEY, base_config, new_http_client,
)
from helpers import key_id

MESSAGES = [{"role": "user", "content": "hello there"}]
GOOD = {"model": "gpt-4o-mini", "messages": MESSAGES}
CHAT = "/v1/chat/completions"


def scrape(gateway, headers: dict | None = None) -> dict:
    """/metrics as {(name, frozenset(labels)): value}, parsed by prometheus_client."""
    response = httpx.get(f"{gateway.url}/metrics", headers=headers or {}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    """The sample with exactly these labels (0 when absent: a counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: dict, name: str, **labels) -> float:
    """The sum over samples whose labels include these."""
    wanted = set(labels.items())
    return sum(v for (n, l), v in samples.items() if n == name and wanted <= l)


def request_lines(gateway) -> list[dict]:
    lines = []
    for line in gateway.log().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)  # every line of the default format is one JSON object
            if entry["msg"] == "request":
                lines.append(entry)
    return lines


def wait_for_lines(gateway, count: int, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        lines = request_lines(gateway)
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def stream_chat(gateway, body: dict) -> tuple[httpx.Response, list[dict]]:
    with new_http_client(timeout=15) as client:
        response = client.post(f"{gateway.url}{CHAT}", json={**body, "stream": True}, headers=gateway.headers())
    events = [json.loads(line[6:]) for line in response.text.splitlines()
              if line.startswith("data: ") and line != "data: [DONE]"]
    return response, events


def test_metrics_count_known_traffic_exactly(start_gateway, upstream, redis_server):
    config = base_config(
        upstream.url, redis=redis_server.url, model_usage_gap_percentage=0,
        failover={"max_attempts": 1, "error_cooldown_seconds": 120, "circuit_breaker_seconds": 0})
    gateway = start_gateway(config)

    # 3 answers, 1 stream (with the usage chunk), then an upstream 500 and an upstream 429 (one
    # try each: max_attempts 1), a wrong access key and an unknown model.
    tokens_in = tokens_out = 0
    for _ in range(3):
        response = gateway.chat(GOOD)
        assert response.status_code == 200, response.text
        tokens_in += response.json()["usage"]["prompt_tokens"]
        tokens_out += response.json()["usage"]["completion_tokens"]
    response, events = stream_chat(gateway, {**GOOD, "stream_options": {"include_usage": True}})
    assert response.status_code == 200
    usage = events[-1]["usage"]
    tokens_in += usage["prompt_tokens"]
    tokens_out += usage["completion_tokens"]

    upstream.patch_config({"faults": {"status": 500}})
    failed = gateway.chat(GOOD)
    assert failed.status_code == 502, failed.text
    upstream.patch_config({"faults": {"status": 429, "retry_after": 30}})
    limited = gateway.chat(GOOD)
    assert limited.status_code == 429, limited.text
    upstream.patch_config({"faults": {}})
    assert gateway.chat(GOOD, key="not-a-key").status_code == 401
    assert gateway.chat({**GOOD, "model": "no-such-model"}).status_code == 404

    # A rejected edit, then an applied one.
    good_file = gateway.config_path.read_text()
    gateway.config_path.write_text("{ not json")
    deadline = time.monotonic() + 10
    while gateway.get("/health", key=None).json()["last_reload_error"] is None:
        assert time.monotonic() < deadline, gateway.log()
        time.sleep(0.05)
    gateway.config_path.write_text(good_file.replace('"max_request_min": 30', '"max_request_min": 31'))
    while gateway.get("/health", key=None).json()["last_reload_error"] is not None:
        assert time.monotonic() < deadline, gateway.log()
        time.sleep(0.05)

    m = scrape(gateway)
    mock = {"provider": "mock", "model": "gpt-4o-mini"}
    chat = {"endpoint": CHAT, **mock}
    assert value(m, "gateway_requests_total", **chat, status="200") == 4
    assert value(m, "gateway_requests_total", **chat, status="502") == 1
    assert value(m, "gateway_requests_total", **chat, status="429") == 1
    assert value(m, "gateway_requests_total", endpoint=CHAT, provider="", model="", status="401") == 1
    assert value(m, "gateway_requests_total", endpoint=CHAT, provider="", model="", status="404") == 1
    assert total(m, "gateway_requests_total", endpoint=CHAT) == 8
    assert value(m, "gateway_request_duration_seconds_count", **chat) == 6
    assert value(m, "gateway_request_duration_seconds_bucket", **chat, le="+Inf") == 6

    assert value(m, "gateway_upstream_requests_total", **mock, outcome="ok") == 4
    assert value(m, "gateway_upstream_requests_total", **mock, outcome="server_error") == 1
    assert value(m, "gateway_upstream_requests_total", **mock, outcome="rate_limited") == 1
    assert value(m, "gateway_upstream_duration_seconds_count", **mock) == 6
    assert value(m, "gateway_stream_time_to_first_token_seconds_count", **mock) == 1
    assert value(m, "gateway_streams_total", **mock, outcome="completed") == 1
    assert total(m, "gateway_streams_total") == 1
    assert value(m, "gateway_tokens_total", **mock, direction="input") == tokens_in
    assert value(m, "gateway_tokens_total", **mock, direction="output") == tokens_out
    assert upstream.stats()["requests"] == 6

    # Keys: 6 granted reservations; the 500's key and the 429's key cooled down, by id.
    assert total(m, "gateway_key_reservations_total", provider="mock", outcome="granted") == 6
    errored, limited_key = failed.headers["x-gateway-key-id"], limited.headers["x-gateway-key-id"]
    assert errored != limited_key and {errored, limited_key} <= set(KEY_IDS)
    assert value(m, "gateway_key_cooldowns_total", provider="mock", key_id=errored, reason="server_error") == 1
    assert value(m, "gateway_key_cooldowns_total", provider="mock", key_id=limited_key, reason="rate_limited") == 1
    assert total(m, "gateway_key_cooldowns_total") == 2
    assert value(m, "gateway_keys", provider="mock", status="cooling_down") == 2
    assert value(m, "gateway_keys", provider="mock", status="active") == 1
    assert value(m, "gateway_keys", provider="mock", status="disabled") == 0

    # Redis: one round trip per reserve (6), settle (4 answers), fail (2); this scrape's snapshot.
    for command, count in (("reserve", 6), ("settle", 4), ("fail", 2), ("snapshot", 1)):
        assert value(m, "gateway_redis_command_duration_seconds_count", command=command) == count, command
    assert total(m, "gateway_redis_errors_total") == 0
    assert value(m, "gateway_config_reloads_total", outcome="rejected") == 1
    assert value(m, "gateway_config_reloads_total", outcome="applied") == 1
    assert value(m, "gateway_requests_in_flight") == 1  # this scrape
    assert value(m, "gateway_streams_in_flight") == 0

    # One log line per request, with the fields operators filter on.
    lines = [l for l in wait_for_lines(gateway, 8) if l["endpoint"] == CHAT]
    assert len(lines) == 8
    by_status = {}
    for line in lines:
        by_status.setdefault(line["status"], []).append(line)
    assert len(by_status[200]) == 4
    streamed = [l for l in by_status[200] if l["stream"]]
    assert len(streamed) == 1 and streamed[0]["ttft_ms"] > 0
    assert streamed[0]["tokens_in"] == usage["prompt_tokens"] and streamed[0]["tokens_out"] == usage["completion_tokens"]
    for line in by_status[200]:
        assert line["access_key_id"] == key_id(ACCESS_KEY)
        assert line["provider"] == "mock" and line["model"] == "gpt-4o-mini" and line["model_requested"] == "gpt-4o-mini"
        assert line["key_id"] in KEY_IDS and line["attempts"] == 1 and line["error"] is None
        assert line["total_ms"] >= line["upstream_ms"] > 0
        assert len(line["request_id"]) == 32
    [line_429] = by_status[429]
    assert line_429["error"] == "upstream_rate_limited" and line_429["key_id"] == limited_key
    assert line_429["request_id"] == limited.headers["x-request-id"]
    [line_502] = by_status[502]
    assert line_502["error"] == failed.json()["error"]["code"] and line_502["attempts"] == 1
    [line_401] = by_status[401]
    assert line_401["error"] == "invalid_api_key" and line_401["access_key_id"] is None
    [line_404] = by_status[404]
    assert line_404["error"] == "model_not_found" and line_404["model_requested"] == "no-such-model"
    assert line_404["provider"] is None and line_404["attempts"] == 0


def test_request_ids_are_returned_and_accepted(gateway, upstream):
    mine = gateway.chat(GOOD, headers={"x-request-id": "trace-42.a:b"})
    assert mine.status_code == 200 and mine.headers["x-request-id"] == "trace-42.a:b"
    made = gateway.chat(GOOD)
    assert len(made.headers["x-request-id"]) == 32 and int(made.headers["x-request-id"], 16) >= 0
    # Not usable in a header or a log line unchanged: replaced.
    odd = gateway.chat(GOOD, headers={"x-request-id": "x" * 200})
    assert len(odd.headers["x-request-id"]) == 32
    # Errors carry it too, from the gateway and from the router.
    assert len(gateway.chat(GOOD, key="wrong").headers["x-request-id"]) == 32
    assert gateway.get("/v1/nope").headers["x-request-id"]
    lines = wait_for_lines(gateway, 5)
    assert [l["request_id"] for l in lines][:3] == [
        "trace-42.a:b", made.headers["x-request-id"], odd.headers["x-request-id"]]


def test_metrics_access_can_require_a_token(start_gateway, upstream):
    gateway = start_gateway(base_config(upstream.url, metrics={"bearer_token": "${METRICS_TOKEN}"}),
                            env={"METRICS_TOKEN": "scrape-token-77"})
    assert httpx.get(f"{gateway.url}/metrics").status_code == 401
    # An access key is not the metrics token.
    assert httpx.get(f"{gateway.url}/metrics", headers=gateway.headers()).status_code == 401
    m = scrape(gateway, headers={"Authorization": "Bearer scrape-token-77"})
    assert value(m, "gateway_requests_in_flight") == 1

    disabled = start_gateway(base_config(upstream.url, metrics={"enabled": False}))
    response = httpx.get(f"{disabled.url}/metrics")
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_url"


def test_log_level_and_format_follow_the_config(start_gateway, upstream):
    gateway = start_gateway(base_config(upstream.url, logging={"format": "text", "level": "warning"}))
    assert gateway.chat(GOOD).status_code == 200
    time.sleep(0.2)
    assert "gateway: request" not in gateway.log()  # request lines are info, below warning
    config = json.loads(gateway.config_path.read_text())
    config["logging"] = {"format": "json", "level": "info"}
    gateway.config_path.write_text(json.dumps(config))
    deadline = time.monotonic() + 10
    while "config reloaded" not in gateway.log():
        assert time.monotonic() < deadline, gateway.log()
        time.sleep(0.05)
    assert gateway.chat(GOOD).status_code == 200
    [line] = wait_for_lines(gateway, 1)
    assert line["status"] == 200 and line["level"] == "info"


# Secrets ---------------------------------------------------------------------------------------

def redis_call(port: int, *args: str):
    """One command, with a RESP reader for every reply type (enough to walk the keyspace)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall((f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)).encode())
        reader = conn.makefile("rb")

        def read():
            line = reader.readline()[:-2]
            kind, rest = line[:1], line[1:]
            if kind in (b"+", b"-"):
                return rest
            if kind == b":":
                return int(rest)
            if kind == b"$":
                size = int(rest)
                if size < 0:
                    return None
                data = reader.read(size + 2)[:-2]
                return data
            if kind == b"*":
                size = int(rest)
                return None if size < 0 else [read() for _ in range(size)]
            raise AssertionError(f"unexpected RESP line {line!r}")

        return read()


def redis_dump(port: int) -> bytes:
    """Every key name and every value in the keyspace, whatever its type."""
    out = []
    cursor = b"0"
    while True:
        cursor, keys = redis_call(port, "SCAN", cursor.decode(), "COUNT", "1000")
        for key in keys:
            name = key.decode("latin-1")
            out.append(key)
            kind = redis_call(port, "TYPE", name)
            if kind == b"string":
                out.append(redis_call(port, "GET", name))
            elif kind == b"hash":
                out += redis_call(port, "HGETALL", name)
            elif kind == b"zset":
                out += redis_call(port, "ZRANGE", name, "0", "-1", "WITHSCORES")
            elif kind == b"list":
                out += redis_call(port, "LRANGE", name, "0", "-1")
            elif kind == b"set":
                out += redis_call(port, "SMEMBERS", name)
            else:
                raise AssertionError(f"unexpected type {kind!r} for {name}")
        if cursor == b"0":
            return b"\n".join(x for x in out if x is not None)


def test_no_secret_reaches_logs_metrics_usage_health_or_redis(start_gateway, upstream, redis_server):
    """Known access and provider keys, traffic that touches every path that handles them (bodies
    logged, a key the upstream rejects, a stream, a wrong access key, a prompt quoting a key),
    then every place the gateway writes to searched for them."""
    config = base_config(
        upstream.url, redis=redis_server.url,
        logging={"bodies": True, "level": "debug", "redact_fields": ["user"]}, failover={"max_attempts": 3})
    gateway = start_gateway(config)
    upstream.patch_config({"keys": {PROVIDER_KEYS[0]: {"faults": {"status": 401}}}})

    for key in (ACCESS_KEY, SECOND_ACCESS_KEY):
        for _ in range(3):
            assert gateway.chat(GOOD, key=key).status_code == 200
    quoting = {"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": f"my keys are {ACCESS_KEY} and {PROVIDER_KEYS[1]}"}], "user": "alice@example.com"}
    assert gateway.chat(quoting).status_code == 200
    response, events = stream_chat(gateway, GOOD)
    assert response.status_code == 200 and events
    assert gateway.chat(GOOD, key=PROVIDER_KEYS[2]).status_code == 401  # a provider key as access key
    assert gateway.get("/v1/usage").status_code == 200
    health = gateway.get("/health", key=None).text
    usage = gateway.get("/v1/usage").text
    metrics = httpx.get(f"{gateway.url}/metrics").text
    keyspace = redis_dump(redis_server.port)
    lines = wait_for_lines(gateway, 10)
    log = gateway.log()

    # The checks can fail: the places searched do hold the traffic's traces, by key id.
    assert key_id(PROVIDER_KEYS[0]) in usage and key_id(PROVIDER_KEYS[0]).encode() in keyspace
    assert f'key_id="{key_id(PROVIDER_KEYS[1])}"' in metrics
    assert any(l["status"] == 200 and l["request_body"] for l in lines)
    quoted = [l for l in lines if l["request_body"] and "my keys are" in l["request_body"]]
    assert len(quoted) == 1
    assert '"user":"[redacted]"' in quoted[0]["request_body"] and "alice" not in log
    assert "my keys are [redacted] and [redacted]" in quoted[0]["request_body"]
    assert usage.count('"disabled"') >= 1  # the rejected key, known by its id only

    for secret in [ACCESS_KEY, SECOND_ACCESS_KEY, *PROVIDER_KEYS]:
        assert secret not in log, f"log leaks {secret}"
        assert secret not in metrics, f"/metrics leaks {secret}"
        assert secret not in usage, f"/v1/usage leaks {secret}"
        assert secret not in health, f"/health leaks {secret}"
        assert secret.encode() not in keyspace, f"Redis leaks {secret}"
    assert "Bearer " not in log


def test_every_authorized_request_logs_its_access_key_id(gateway):
    for path in ("/v1/models", "/v1/models/gpt-4o", "/v1/usage"):
        assert gateway.get(path, key=SECOND_ACCESS_KEY).status_code == 200
    lines = wait_for_lines(gateway, 3)
    assert [(l["endpoint"], l["access_key_id"]) for l in lines] == [
        ("/v1/models", key_id(SECOND_ACCESS_KEY)), ("/v1/models/gpt-4o", key_id(SECOND_ACCESS_KEY)),
        ("/v1/usage", key_id(SECOND_ACCESS_KEY))]


def test_an_upstream_error_event_ending_a_stream_is_logged_with_its_code(gateway, upstream):
    """An OpenAI-compatible upstream that ends a stream with its own error event (mock-provider's
    `stream_error_after_chunks`): the client gets the event as it came, and the request's log
    line carries the provider's code, not the `null` of a success."""
    upstream.patch_config({"faults": {"stream_error_after_chunks": 2}})
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            received.append(chunk.choices[0].delta.content)
    assert received == ["", "Mock "]
    assert (raised.value.body["type"], raised.value.body["code"]) == ("server_error", "stream_error")
    [line] = wait_for_lines(gateway, 1)
    assert (line["status"], line["stream"], line["attempts"]) == (200, True, 1)
    assert line["error"] == "stream_error"
    # The gateway says so in its own warning too, as for Gemini's and Anthropic's stream errors.
    assert "reported an error in its stream: stream_error" in gateway.log()


def test_an_upstream_error_event_without_a_code_is_logged_with_its_type(start_gateway, echo_upstream):
    """`"code": null` (OpenAI's own server errors) or no code: the event's `type` is logged; the
    bytes relayed are the upstream's, with nothing added after them."""
    gateway = start_gateway(base_config(echo_upstream.url))
    chunk = json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                        "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]})
    error = '{ "error": {"message": "boom", "type": "server_error", "param": null, "code": null}}'
    body = f"data: {chunk}\n\ndata: {error}\n\n".encode()
    echo_upstream.responder = lambda record: (200, {"Content-Type": "text/event-stream"}, body)
    response, events = stream_chat(gateway, GOOD)
    assert response.status_code == 200
    assert response.content == body
    [line] = wait_for_lines(gateway, 1)
    assert line["error"] == "server_error"
