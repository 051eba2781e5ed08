"""Key choice by the usage-gap rule, and /v1/usage, checked against the upstream's own counts.

The rule (docs/configuration.md): among keys with room in every window, the provider keeps its
current key while the key's daily usage percentage is at most `gap` points above the least-used
eligible key; otherwise it moves to the least-used one (ties: first listed). `simulate` restates
it, so every run's exact key sequence is predicted and compared with `x-gateway-key-id`,
/v1/usage and mock-provider's /_mock/stats.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway_fixtures import KEY_IDS, PROVIDER_KEYS, base_config
from helpers import REPLY, tokens


def simulate(n: int, keys: int = 3, gap: float = 5, per_day: int | None = 100, per_minute: int | None = 30) -> list[int]:
    counts = [0] * keys
    current = None
    order = []
    for _ in range(n):
        eligible = [
            i for i in range(keys)
            if (per_day is None or counts[i] + 1 <= per_day) and (per_minute is None or counts[i] + 1 <= per_minute)
        ]
        if not eligible:
            order.append(None)
            continue

        def usage(i):
            return counts[i] * 100 / per_day if per_day else counts[i]

        best = min(eligible, key=lambda i: (usage(i), i))
        chosen = current if current in eligible and usage(current) <= usage(best) + gap else best
        counts[chosen] += 1
        current = chosen
        order.append(chosen)
    return order


def test_simulator_matches_the_documented_example():
    # gap 5, 100 a day: six requests stay on key 1, the 7th moves on.
    assert simulate(7)[:7] == [0, 0, 0, 0, 0, 0, 1]
    assert simulate(30, gap=0).count(0) == simulate(30, gap=0).count(1) == simulate(30, gap=0).count(2) == 10


def question(i: int) -> str:
    # Varying lengths, so every key's token total is distinct and a mix-up would show.
    return f"question {i} " + "x" * (i % 7)


def expected_tokens(i: int) -> int:
    return tokens(question(i)) + tokens(REPLY + question(i))


def run(gateways, n: int) -> list[int]:
    """n requests, alternating over `gateways`; returns the key index each one used."""
    used = []
    for i in range(n):
        gateway = gateways[i % len(gateways)]
        response = gateway.chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question(i)}]})
        assert response.status_code == 200, response.text
        used.append(KEY_IDS.index(response.headers["x-gateway-key-id"]))
    return used


def assert_usage_matches(gateway, upstream, order: list[int], per_day: int = 100) -> dict:
    n = len(order)
    counts = [order.count(k) for k in range(3)]
    token_sums = [sum(expected_tokens(i) for i in range(n) if order[i] == k) for k in range(3)]

    def settled(usage):
        keys = usage["details"]["mock"]["keys"]
        return [keys[KEY_IDS[k]]["rate_limit_windows"]["tokens_day"] for k in range(3)] == token_sums

    usage = gateway.wait_usage(settled)
    stats = upstream.stats()
    for k in range(3):
        mine = usage["details"]["mock"]["keys"][KEY_IDS[k]]
        theirs = stats["by_key"].get(PROVIDER_KEYS[k], {"requests": 0, "total_tokens": 0, "statuses": {}})
        assert theirs["requests"] == counts[k], f"key {k}"
        assert theirs["total_tokens"] == token_sums[k], f"key {k}"
        assert mine["requests"] == counts[k], f"key {k}"
        assert mine["total_requests"] == counts[k], f"key {k}"
        assert mine["rate_limit_windows"]["req_day"] == counts[k]
        assert mine["rate_limit_windows"]["req_min"] == counts[k]
        assert mine["rate_limit_windows"]["tokens_day"] == token_sums[k], f"key {k}"
        assert mine["rate_limit_windows"]["tokens_min"] == token_sums[k], f"key {k}"
        assert mine["total_tokens"] == token_sums[k], f"key {k}"
        assert mine["usage_percentage"] == round(counts[k] * 100 / per_day, 2)
    assert set(stats["by_key"]) <= set(PROVIDER_KEYS)
    overview = usage["overview"]["mock"]
    assert overview["total_requests"] == n
    assert overview["total_capacity"] == 3 * per_day
    assert overview["usage_percentage"] == round(n * 100 / (3 * per_day), 2)
    assert overview["keys"] == 3
    assert usage["details"]["mock"]["current_key"] == KEY_IDS[order[-1]]
    return usage


# The exact distribution -------------------------------------------------------------------------

@pytest.mark.parametrize("store", ["memory", "redis"])
def test_usage_gap_distribution(start_gateway, upstream, redis_server, store):
    extra = {"redis": redis_server.url} if store == "redis" else {}
    gateway = start_gateway(base_config(upstream.url, **extra))
    assert gateway.get("/health").json()["store"]["type"] == store
    order = run([gateway], 40)
    expected = simulate(40)
    assert expected[:13] == [0] * 6 + [1] * 6 + [2]
    assert order == expected
    usage = assert_usage_matches(gateway, upstream, order)
    assert usage["overview"]["mock"]["available_keys"] == 3


def test_gap_zero_balances(start_gateway, upstream, redis_server):
    gateway = start_gateway(base_config(upstream.url, redis=redis_server.url, model_usage_gap_percentage=0))
    order = run([gateway], 30)
    assert order == simulate(30, gap=0)
    assert [order.count(k) for k in range(3)] == [10, 10, 10]
    assert_usage_matches(gateway, upstream, order)


def test_large_gap_keeps_one_key(start_gateway, upstream, redis_server):
    gateway = start_gateway(base_config(upstream.url, redis=redis_server.url, model_usage_gap_percentage=100,
                                        entry={"max_request_min": None}))
    order = run([gateway], 20)
    assert order == [0] * 20
    assert_usage_matches(gateway, upstream, order)


def test_two_gateways_share_one_redis(start_gateway, upstream, redis_server):
    config = base_config(upstream.url, redis=redis_server.url)
    first, second = start_gateway(config), start_gateway(config)
    order = run([first, second], 40)
    assert order == simulate(40)
    assert_usage_matches(first, upstream, order)
    a = first.get("/v1/usage")
    b = second.get("/v1/usage")
    assert a.status_code == b.status_code == 200
    assert a.content == b.content
    assert first.get("/health").json()["config_hash"] == second.get("/health").json()["config_hash"]


def test_gateways_whose_day_resets_in_different_time_zones_share_one_day(start_gateway, upstream, redis_server):
    """During a rolling change of daily_reset_timezone, replicas disagree on the date (Kiritimati
    UTC+14 and Pago Pago UTC-11 always do). The key's day only moves forward, so neither resets
    the other's count: max_request_day holds across both (before, every switch reset it and all 10
    were served)."""
    def config(zone):
        return base_config(
            upstream.url, redis=redis_server.url, daily_reset_timezone=zone,
            entry={"key": [PROVIDER_KEYS[0]], "max_request_day": 3}, failover={"max_attempts": 1})
    east, west = start_gateway(config("Pacific/Kiritimati")), start_gateway(config("Pacific/Pago_Pago"))
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    statuses = [(east if i % 2 == 0 else west).chat(body).status_code for i in range(10)]
    assert statuses == [200] * 3 + [429] * 7
    assert upstream.stats()["requests"] == 3
    for gateway in (east, west):
        assert gateway.key_usage()[KEY_IDS[0]]["rate_limit_windows"]["req_day"] == 3

def test_minute_limit_moves_to_the_next_key_then_429(start_gateway, upstream, redis_server):
    gateway = start_gateway(base_config(upstream.url, redis=redis_server.url, entry={"max_request_min": 2}))
    statuses, used = [], []
    for i in range(7):
        response = gateway.chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question(i)}]})
        statuses.append(response.status_code)
        used.append(response.headers.get("x-gateway-key-id"))
    assert statuses == [200] * 6 + [429]
    assert used[:6] == [KEY_IDS[0]] * 2 + [KEY_IDS[1]] * 2 + [KEY_IDS[2]] * 2
    assert simulate(7, per_minute=2) == [0, 0, 1, 1, 2, 2, None]
    usage = assert_usage_matches(gateway, upstream, [0, 0, 1, 1, 2, 2])
    assert usage["overview"]["mock"]["available_keys"] == 0
    assert {k["status"] for k in usage["details"]["mock"]["keys"].values()} == {"limited"}


def test_streams_settle_to_upstream_usage(start_gateway, upstream, redis_server):
    """Streaming with and without include_usage: tokens_day per key equals the upstream's count."""
    gateway = start_gateway(base_config(upstream.url, redis=redis_server.url, model_usage_gap_percentage=0))
    client = gateway.openai()
    order = []
    for i in range(9):
        messages = [{"role": "user", "content": question(i)}]
        kind = i % 3
        if kind == 0:
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
            raw.parse()
        else:
            options = {"stream_options": {"include_usage": True}} if kind == 2 else {}
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=messages, stream=True, **options)
            list(raw.parse())
        order.append(KEY_IDS.index(raw.headers["x-gateway-key-id"]))
    assert order == simulate(9, gap=0)
    assert_usage_matches(gateway, upstream, order)
    assert upstream.stats()["streamed"] == 6


def test_refused_requests_are_not_counted(redis_gateway, upstream):
    gateway = redis_gateway
    gateway.chat({"model": "gpt-4o-mini", "messages": []})
    gateway.chat({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]})
    gateway.chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, key="wrong")
    usage = gateway.usage()
    assert usage["overview"]["mock"]["total_requests"] == 0
    assert all(k["total_requests"] == 0 and k["total_tokens"] == 0 for k in usage["details"]["mock"]["keys"].values())
    assert upstream.stats()["requests"] == 0


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_huge_max_tokens_is_served_and_settled_to_real_usage(start_gateway, upstream, redis_server, store):
    """max_tokens up to 2^63-1 is a valid integer: the reservation is capped (2^24 tokens), the
    gateway keeps serving, and settle brings every window back to the upstream's usage."""
    redis = {"redis": redis_server.url} if store == "redis" else {}
    gateway = start_gateway(base_config(upstream.url, model_usage_gap_percentage=100, **redis))
    for max_tokens in (2**63 - 1, 2**62, 2**24 + 1):
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}
        response = gateway.chat(body)
        assert response.status_code == 200, response.text
        assert response.json()["usage"]["total_tokens"] == tokens("hi") + tokens(REPLY + "hi")
    total = 3 * (tokens("hi") + tokens(REPLY + "hi"))
    usage = gateway.wait_usage(lambda u: u["details"]["mock"]["keys"][KEY_IDS[0]]["total_tokens"] == total)
    key = usage["details"]["mock"]["keys"][KEY_IDS[0]]
    assert key["rate_limit_windows"] == {"req_min": 3, "req_day": 3, "tokens_min": total, "tokens_day": total}
    assert key["total_requests"] == 3
    assert gateway.get("/health").status_code == 200



@pytest.mark.parametrize("store", ["memory", "redis"])
@pytest.mark.parametrize("limit", ["max_token_min", "max_token_day"])
def test_a_token_window_full_of_requests_in_flight_says_retry_after_1(start_gateway, upstream, redis_server, store, limit):
    """A token window filled by a reservation still in flight (its estimate: prompt plus
    max_tokens) frees as it settles to the real usage, not when it leaves the minute or the day:
    the 429 says Retry-After: 1 (it said 60, and for the day the hours to midnight, so SDKs that
    honour it stalled). Once the first answer settles, the same request is served."""
    redis = {"redis": redis_server.url} if store == "redis" else {}
    gateway = start_gateway(base_config(
        upstream.url, entry={"key": [PROVIDER_KEYS[0]], limit: 1000}, failover={"max_attempts": 1}, **redis))
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 600}
    upstream.patch_config({"faults": {"latency_ms": 1500}})
    window = "tokens_min" if limit == "max_token_min" else "tokens_day"
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(gateway.chat, body)
        usage = gateway.wait_usage(lambda u: u["details"]["mock"]["keys"][KEY_IDS[0]]["rate_limit_windows"][window] > 600)
        assert usage["details"]["mock"]["keys"][KEY_IDS[0]]["rate_limit_windows"][window] > 600
        second = gateway.chat(body)
        assert second.status_code == 429, second.text
        assert second.json()["error"]["code"] == "rate_limit_exceeded"
        assert second.headers["retry-after"] == "1"
        assert first.result().status_code == 200
    upstream.patch_config({"faults": {}})
    assert gateway.chat(body).status_code == 200
    # Settled to the upstream's counts, both answers: nothing pending is left in the window.
    total = 2 * (tokens("hi") + tokens(REPLY + "hi"))
    usage = gateway.wait_usage(lambda u: u["details"]["mock"]["keys"][KEY_IDS[0]]["rate_limit_windows"][window] == total)
    assert usage["details"]["mock"]["keys"][KEY_IDS[0]]["rate_limit_windows"][window] == total

# The report's shape -----------------------------------------------------------------------------

def test_usage_report_shape(redis_gateway, upstream):
    gateway = redis_gateway
    assert gateway.chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).status_code == 200
    usage = gateway.wait_usage(lambda u: u["details"]["mock"]["keys"][KEY_IDS[0]]["total_tokens"] == tokens("hi") + tokens(REPLY + "hi"))
    assert set(usage) == {"overview", "details"}
    assert set(usage["overview"]) == set(usage["details"]) == {"mock"}
    assert usage["overview"]["mock"] == {
        "total_requests": 1, "total_capacity": 300, "usage_percentage": round(100 / 300, 2), "keys": 3, "available_keys": 3}
    detail = usage["details"]["mock"]
    assert set(detail) == {"keys", "rate_limits", "current_key", "type", "circuit_open_until"}
    assert detail["circuit_open_until"] is None
    assert detail["type"] == "openai"
    assert detail["current_key"] == KEY_IDS[0]
    assert detail["rate_limits"] == {"max_request_min": 30, "max_request_day": 100, "max_token_min": None, "max_token_day": None}
    assert set(detail["keys"]) == set(KEY_IDS)
    total = tokens("hi") + tokens(REPLY + "hi")
    assert detail["keys"][KEY_IDS[0]] == {
        "requests": 1, "usage_percentage": 1,
        "rate_limit_windows": {"req_min": 1, "req_day": 1, "tokens_min": total, "tokens_day": total},
        "status": "active", "cooldown_until": None, "cooldown_reason": None,
        "total_requests": 1, "total_tokens": total,
    }


def test_usage_report_shape_before_any_request(redis_gateway):
    """Every documented field is present before the first request too, unset ones as null."""
    detail = redis_gateway.usage()["details"]["mock"]
    assert set(detail) == {"keys", "rate_limits", "current_key", "type", "circuit_open_until"}
    assert detail["current_key"] is None
    assert detail["circuit_open_until"] is None
    for key in KEY_IDS:
        assert detail["keys"][key] == {
            "requests": 0, "usage_percentage": 0,
            "rate_limit_windows": {"req_min": 0, "req_day": 0, "tokens_min": 0, "tokens_day": 0},
            "status": "active", "cooldown_until": None, "cooldown_reason": None,
            "total_requests": 0, "total_tokens": 0,
        }


def test_usage_unlimited_entry(start_gateway, upstream):
    gateway = start_gateway(base_config(upstream.url, entry={"max_request_day": None, "max_request_min": None}))
    assert gateway.chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).status_code == 200
    usage = gateway.usage()
    # Documented as null when requests per day are unlimited (not left out).
    assert set(usage["overview"]["mock"]) == {"total_requests", "total_capacity", "usage_percentage", "keys", "available_keys"}
    assert usage["overview"]["mock"]["total_capacity"] is None
    assert usage["overview"]["mock"]["usage_percentage"] is None
    assert usage["details"]["mock"]["rate_limits"] == {
        "max_request_min": None, "max_request_day": None, "max_token_min": None, "max_token_day": None}
    # Without a daily limit, usage_percentage is the day's request count.
    assert usage["details"]["mock"]["keys"][KEY_IDS[0]]["usage_percentage"] == 1


# Health -------------------------------------------------------------------------------------------

def test_health_and_ready_memory(gateway):
    import hashlib

    health = gateway.get("/health", key=None)
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["config_hash"] == hashlib.sha256(gateway.config_path.read_bytes()).hexdigest()[:16]
    assert body["store"]["type"] == "memory" and body["store"]["status"] == "ok"
    assert body["last_reload_error"] is None
    ready = gateway.get("/ready", key=None)
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_health_redis(redis_gateway, redis_server):
    body = redis_gateway.get("/health", key=None).json()
    assert body["status"] == "ok"
    assert body["store"]["type"] == "redis" and body["store"]["status"] == "ok"
    assert str(redis_server.port) not in redis_gateway.get("/health", key=None).text
    assert redis_gateway.get("/ready", key=None).json()["status"] == "ready"


# Several entries: auto-model and fallbacks move on when a model's keys are full ----------------------

def _two_entries(upstream_url: str, **top) -> dict:
    config = base_config(upstream_url, entry={"key": [PROVIDER_KEYS[0]], "models": ["gpt-4o-mini"], "model_map": {},
                                              "max_request_min": 1}, **top)
    config["provider_keys"].append({
        "provider": "mock2", "type": "openai", "base_url": f"{upstream_url}/v1",
        "models": ["gpt-4o"], "key": [PROVIDER_KEYS[1]]})
    return config


def test_auto_model_moves_to_the_next_model_when_the_first_is_full(start_gateway, upstream, redis_server):
    gateway = start_gateway(_two_entries(upstream.url, redis=redis_server.url, **{"auto-models": ["gpt-4o-mini", "gpt-4o"]}))
    seen = []
    for _ in range(3):
        response = gateway.chat({"model": "auto-model", "messages": [{"role": "user", "content": "hi"}]})
        assert response.status_code == 200, response.text
        seen.append((response.headers["x-gateway-provider"], response.headers["x-gateway-model"],
                     response.headers["x-gateway-key-id"], response.json()["model"]))
    assert seen == [("mock", "gpt-4o-mini", KEY_IDS[0], "gpt-4o-mini")] + [("mock2", "gpt-4o", KEY_IDS[1], "gpt-4o")] * 2
    usage = gateway.usage()
    assert usage["overview"]["mock"]["total_requests"] == 1
    assert usage["overview"]["mock2"]["total_requests"] == 2
    assert usage["details"]["mock2"]["keys"][KEY_IDS[1]]["requests"] == 2
    assert upstream.key_stats(PROVIDER_KEYS[0])["requests"] == 1
    assert upstream.key_stats(PROVIDER_KEYS[1])["requests"] == 2


def test_fallback_serves_when_the_requested_model_is_full(start_gateway, upstream):
    gateway = start_gateway(_two_entries(upstream.url, fallbacks={"gpt-4o-mini": ["gpt-4o"]}))
    first = gateway.chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    second = gateway.chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.headers["x-gateway-provider"], first.headers["x-gateway-model"]) == ("mock", "gpt-4o-mini")
    assert (second.headers["x-gateway-provider"], second.headers["x-gateway-model"]) == ("mock2", "gpt-4o")
    assert second.json()["model"] == "gpt-4o"
    # Without a fallback the same request is refused.
    plain = start_gateway(_two_entries(upstream.url))
    assert plain.chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).status_code == 200
    refused = plain.chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
