"""Redis going away under a running gateway: fail-closed answers 503 and fails readiness,
fail-open keeps serving on the replica's own windows; neither hangs, and both recover.

Each test owns its redis-server (the session's is shared and must not be killed).
"""
from __future__ import annotations

import threading
import time

import pytest

from gateway_fixtures import RedisServer, assert_no_secrets, base_config

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _wait(check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_fail_closed_answers_503_and_is_not_ready_until_redis_returns(start_gateway, echo_upstream):
    redis = RedisServer()
    try:
        gateway = start_gateway(base_config(echo_upstream.url, redis=redis.url, server={"redis_failure_mode": "fail_closed"}))
        assert gateway.chat(BODY).status_code == 200
        assert gateway.get("/ready", key=None).status_code == 200

        redis.stop()
        ready = _wait(lambda: (r := gateway.get("/ready", key=None)).status_code == 503 and r)
        assert ready, "readiness never failed with Redis gone"
        assert ready.json()["status"] == "unavailable"
        health = gateway.get("/health", key=None)
        assert health.status_code == 200
        assert health.json()["status"] == "unavailable"
        assert health.json()["store"] | {"error": None} == {
            "type": "redis", "status": "unavailable", "mode": "fail_closed", "error": None, "kept_settles": 0}
        assert str(redis.port) not in health.text

        started = time.monotonic()
        response = gateway.chat(BODY)
        assert time.monotonic() - started < 2.0, "a Redis outage must not make requests wait"
        assert response.status_code == 503
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("service_unavailable", "store_unavailable")
        assert response.headers["retry-after"] == "1"
        assert_no_secrets(response, gateway)
        assert len(echo_upstream.requests) == 1  # the 503 never reached the upstream

        # Redis back (same port, empty): the gateway reconnects and serves again.
        redis = RedisServer(port=redis.port)
        assert _wait(lambda: gateway.get("/ready", key=None).status_code == 200)
        assert gateway.chat(BODY).status_code == 200
        assert gateway.usage()["overview"]["mock"]["total_requests"] == 1
        # The outage's start and end are logged once each (the log is written asynchronously).
        assert _wait(lambda: gateway.log().count("shared store is back") == 1)
        log = gateway.log()
        assert log.count("shared store unavailable") == 1 and "refusing requests with 503 (fail_closed)" in log
    finally:
        redis.stop()


@pytest.mark.parametrize("mode", ["fail_closed", "fail_open"])
def test_a_redis_that_refuses_writes_is_an_outage_not_a_500(start_gateway, echo_upstream, mode):
    """After a failover the old primary, now a replica, answers every script with READONLY
    (and a restarting one with LOADING): connected, but not serving. That is an outage under
    redis_failure_mode like a lost connection (503 store_unavailable, or served from the
    replica's own windows), never a 500 internal_error."""
    redis = RedisServer()
    try:
        gateway = start_gateway(base_config(echo_upstream.url, redis=redis.url, server={"redis_failure_mode": mode}))
        assert gateway.chat(BODY).status_code == 200
        redis.command("REPLICAOF", "127.0.0.1", "1")  # a replica of nothing: read-only
        response = gateway.chat(BODY)
        if mode == "fail_closed":
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert (error["type"], error["code"]) == ("service_unavailable", "store_unavailable")
            assert len(echo_upstream.requests) == 1
        else:
            assert response.status_code == 200, response.text
            assert len(echo_upstream.requests) == 2
        assert_no_secrets(response, gateway)
        # Health follows, and stays so with no traffic: the refusal took the connection down, and
        # each reconnect finds a replica. fail_closed is not ready, so a balancer routes around.
        time.sleep(1.0)
        health = gateway.get("/health", key=None).json()
        assert health["status"] == ("unavailable" if mode == "fail_closed" else "degraded")
        assert health["store"]["status"] == "unavailable"
        assert health["store"]["error"] == "Redis is not serving commands"
        ready = gateway.get("/ready", key=None)
        assert ready.status_code == (503 if mode == "fail_closed" else 200)
        redis.command("REPLICAOF", "NO", "ONE")
        assert _wait(lambda: gateway.get("/health", key=None).json()["status"] == "ok")
        assert gateway.get("/ready", key=None).status_code == 200
        assert gateway.chat(BODY).status_code == 200
        # Only the requests Redis itself counted (the fail_open one went to the replica's memory).
        assert gateway.usage()["overview"]["mock"]["total_requests"] == 2
    finally:
        redis.stop()


def test_a_settle_redis_cannot_take_is_kept_and_made_once_it_serves_again(start_gateway, upstream):
    """A request reserved in Redis whose answer arrives while Redis refuses writes (the old
    primary after a failover): its settle is kept and /health counts it; once Redis serves
    again the settle is made, and the key's day shows the answer's tokens, not the estimate."""
    redis = RedisServer()
    try:
        gateway = start_gateway(base_config(upstream.url, redis=redis.url, server={"redis_failure_mode": "fail_closed"}))
        upstream.patch_config({"faults": {"latency_ms": 1500}})
        outcome = {}
        request = threading.Thread(target=lambda: outcome.update(response=gateway.chat({**BODY, "max_tokens": 1000})))
        request.start()
        # At the provider, so its key is reserved in Redis (with the estimate: prompt + 1,000).
        assert _wait(lambda: upstream.stats()["pending"] == 1)
        redis.command("REPLICAOF", "127.0.0.1", "1")
        request.join(10)
        response = outcome["response"]
        assert response.status_code == 200, response.text
        total = response.json()["usage"]["total_tokens"]
        # Before: the settle failed and the day kept the estimate for good.
        assert _wait(lambda: gateway.get("/health", key=None).json()["store"]["kept_settles"] == 1)

        redis.command("REPLICAOF", "NO", "ONE")
        assert _wait(lambda: gateway.get("/health", key=None).json()["store"]["kept_settles"] == 0)
        [key] = [k for k in gateway.usage()["details"]["mock"]["keys"].values() if k["total_requests"] == 1]
        assert key["rate_limit_windows"]["tokens_day"] == total
        assert key["rate_limit_windows"]["tokens_min"] == total
        assert key["total_tokens"] == total
        assert _wait(lambda: "made 1 settles kept while Redis could not take them" in gateway.log())
    finally:
        redis.stop()


def test_fail_open_keeps_serving_and_reports_degraded(start_gateway, echo_upstream):
    redis = RedisServer()
    try:
        gateway = start_gateway(base_config(echo_upstream.url, redis=redis.url))  # fail_open is the default
        assert gateway.chat(BODY).status_code == 200
        redis.stop()
        assert _wait(lambda: gateway.get("/health", key=None).json()["status"] == "degraded")
        assert gateway.get("/ready", key=None).status_code == 200
        for _ in range(3):
            response = gateway.chat(BODY)
            assert response.status_code == 200, response.text
        # The replica's own windows counted what it served while Redis was away.
        assert gateway.usage()["overview"]["mock"]["total_requests"] == 3
        assert len(echo_upstream.requests) == 4
        # The outage is in the log, once however many requests it served, and so is its end.
        assert _wait(lambda: '"status":200' in gateway.log().split("shared store unavailable")[-1])
        log = gateway.log()
        assert log.count("shared store unavailable") == 1
        assert "serving on this replica's own windows (fail_open) until Redis is back" in log
        assert "shared store is back" not in log
        redis = RedisServer(port=redis.port)
        assert _wait(lambda: gateway.get("/health", key=None).json()["status"] == "ok")
        assert gateway.chat(BODY).status_code == 200
        assert _wait(lambda: gateway.log().count("shared store is back") == 1)
    finally:
        redis.stop()
