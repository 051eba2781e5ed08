"""N replicas behind nginx, one Redis: the limits and the usage picture are shared exactly.

Everything here is real: the local launcher (deploy/local/cluster.py) starts redis-server,
three gateway processes and nginx; mock-provider is the upstream and enforces its own per-key
limits, so a gateway that overshot a key's limit would show up as a 429 from the provider.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from gateway_fixtures import ACCESS_KEY, HTTP, KEY_IDS, PROVIDER_KEYS, REPO, EchoUpstream, _gateway_binary, base_config

LAUNCHER = REPO / "deploy" / "local" / "cluster.py"
AUTH = {"Authorization": f"Bearer {ACCESS_KEY}", "Content-Type": "application/json"}
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 16})


class LocalCluster:
    """The launcher as a user runs it (a process of its own), on free ports."""

    def __init__(self, config: dict, replicas: int = 3):
        self._dir = tempfile.TemporaryDirectory(prefix="cluster-test-")
        directory = Path(self._dir.name)
        self.config_path = directory / "config.json"
        self.config_path.write_text(json.dumps(config))
        state_path = directory / "state.json"
        self.output_path = directory / "launcher.out"
        self._output = open(self.output_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, str(LAUNCHER), "--replicas", str(replicas), "--config", str(self.config_path),
             "--bin", str(_gateway_binary().parent), "--free-ports", "--state", str(state_path)],
            stdout=self._output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not state_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the launcher did not start the cluster:\n{self.output()}")
            time.sleep(0.05)
        time.sleep(0.05)  # the file is written in one go; give the write a moment to land
        self.state = json.loads(state_path.read_text())
        self.url = self.state["url"]
        self.replicas = self.state["replicas"]

    def output(self) -> str:
        if not self._output.closed:
            self._output.flush()
        return self.output_path.read_text(errors="replace")

    def usage(self, replica: dict) -> dict:
        response = HTTP.get(f"{replica['url']}/v1/usage", headers=AUTH, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._output.close()
        return self.process.returncode


@pytest.fixture
def start_cluster():
    started: list[LocalCluster] = []

    def start(config: dict, replicas: int = 3) -> LocalCluster:
        cluster = LocalCluster(config, replicas)
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        if cluster.process.poll() is None:
            cluster.stop()


async def _fire(url: str, count: int) -> list[httpx.Response]:
    """`count` requests at once, each on its own connection."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return await asyncio.gather(*(
            client.post(f"{url}/v1/chat/completions", content=BODY, headers=AUTH) for _ in range(count)))


def _same_picture(usage: dict) -> dict:
    """/v1/usage without what may differ between two readings of the same state: the seconds
    left in a window or a cooldown."""
    value = copy.deepcopy(usage)
    for provider in value["details"].values():
        for key in provider["keys"].values():
            for field in list(key):
                if field.endswith("_until") or field.endswith("reset_in_seconds"):
                    key.pop(field)
    return value


def test_three_replicas_behind_nginx_serve_exactly_the_keys_limits(start_cluster, upstream):
    # The provider's own limit: 15 requests a minute per key, which the gateway's config states.
    upstream.set_config({"keys": {key: {"requests_per_minute": 15} for key in PROVIDER_KEYS}})
    cluster = start_cluster(base_config(upstream.url, entry={"max_request_min": 15, "max_request_day": 1000}))

    responses = asyncio.run(_fire(cluster.url, 300))

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 45, {s: statuses.count(s) for s in set(statuses)}
    assert statuses.count(429) == 255
    for response in responses:
        if response.status_code != 429:
            continue
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
        # From the gateway (nginx adds no such header), and within the minute window.
        assert response.headers["x-gateway-attempts"] == "0"
        assert 1 <= int(response.headers["retry-after"]) <= 60

    stats = upstream.stats()
    assert stats["requests"] == 45, stats
    for key in PROVIDER_KEYS:
        assert stats["by_key"][key]["requests"] == 15
        # The provider never had to refuse: the gateway never overshot its limit.
        assert set(stats["by_key"][key]["statuses"]) == {"200"}, stats["by_key"][key]

    print(f"\n300 concurrent through nginx: {statuses.count(200)} x 200, {statuses.count(429)} x 429; "
          f"provider saw {stats['requests']} ({', '.join(str(stats['by_key'][k]['requests']) for k in PROVIDER_KEYS)} per key)")
    served_by = sorted(r.headers["x-gateway-key-id"] for r in responses if r.status_code == 200)
    assert served_by == sorted(KEY_IDS * 15)

    # Settling runs just after each answer's last byte; then every replica reports the same.
    deadline = time.monotonic() + 5
    while True:
        readings = [cluster.usage(replica) for replica in cluster.replicas]
        keys = readings[0]["details"]["mock"]["keys"]
        settled = all(keys[k]["rate_limit_windows"]["req_min"] == 15 for k in KEY_IDS)
        if (settled and all(_same_picture(r) == _same_picture(readings[0]) for r in readings)) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert readings[0]["overview"]["mock"]["total_requests"] == 45
    for key in KEY_IDS:
        assert keys[key]["requests"] == 15
        assert keys[key]["rate_limit_windows"]["req_min"] == 15
    for reading in readings[1:]:
        assert _same_picture(reading) == _same_picture(readings[0])

    assert cluster.stop() == 0
    out = cluster.output()
    for name in ("gateway-1", "gateway-2", "gateway-3"):
        assert f"{name} stopped with exit code 0" in out, out


def test_killing_a_replica_mid_load_loses_no_counted_usage(start_cluster, upstream):
    cluster = start_cluster(base_config(upstream.url, entry={"max_request_min": 100000, "max_request_day": 1000000}))
    victim = cluster.replicas[1]
    results: list[tuple[float, int]] = []  # (start time, status; 0 = transport error)
    lock = threading.Lock()
    stop_at = time.monotonic() + 4.0
    killed_at: list[float] = []

    def client_loop():
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < stop_at:
                started = time.monotonic()
                try:
                    status = client.post(f"{cluster.url}/v1/chat/completions", content=BODY, headers=AUTH).status_code
                except httpx.TransportError:
                    status = 0
                with lock:
                    results.append((started, status))

    threads = [threading.Thread(target=client_loop) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    before = cluster.usage(cluster.replicas[0])["overview"]["mock"]["total_requests"]
    os.kill(victim["pid"], signal.SIGKILL)
    killed_at.append(time.monotonic())
    for thread in threads:
        thread.join()

    ok = [status for _, status in results if status == 200]
    failed = [(t, s) for t, s in results if s != 200]
    assert before > 0 and len(ok) > before
    # Only requests the victim held when it died may fail (6 clients: at most 6), and every
    # request sent a moment after the kill is served by the others.
    assert len(failed) <= 6, failed
    assert all(t < killed_at[0] + 0.2 for t, _ in failed), (killed_at, failed)
    after_kill = [s for t, s in results if t > killed_at[0] + 0.2]
    assert len(after_kill) > 20 and set(after_kill) == {200}

    time.sleep(0.3)  # the survivors settle their last answers
    survivors = [cluster.replicas[0], cluster.replicas[2]]
    readings = [cluster.usage(replica) for replica in survivors]
    assert _same_picture(readings[0]) == _same_picture(readings[1])
    counted = readings[0]["overview"]["mock"]["total_requests"]
    provider_saw = upstream.stats()["requests"]
    # Nothing counted before the kill was lost, and every request the provider served is counted
    # (the victim may also have counted a request it never got to send: at most one per client).
    assert counted >= before
    assert provider_saw <= counted <= provider_saw + len(failed)
    assert counted >= len(ok)
    print(f"\nkill mid-load: {len(results)} requests, {len(ok)} served, {len(failed)} failed at the kill; "
          f"counted {counted} (before the kill {before}), provider saw {provider_saw}")

    assert cluster.stop() == 0
    out = cluster.output()
    assert "gateway-2 exited with -9" in out, out
    assert "gateway-1 stopped with exit code 0" in out and "gateway-3 stopped with exit code 0" in out, out


def _stream_request(gateway_url: str) -> httpx.Request:
    body = {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "tell me a long story"}], "max_tokens": 200}
    return HTTP.build_request("POST", f"{gateway_url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)


def _events(response: httpx.Response):
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield line[6:]


def test_sigterm_during_a_long_stream_lets_it_finish_then_exits_0(start_gateway, upstream, redis_server):
    # 30 pieces 100 ms apart: a stream of about 3 s.
    upstream.patch_config({"faults": {"chunks": 30, "chunk_gap_ms": 100}})
    config = base_config(upstream.url, redis=redis_server.url)
    gateway = start_gateway(config)
    observer = start_gateway(config)  # a second replica on the same Redis, to read usage after

    response = HTTP.send(_stream_request(gateway.url), stream=True)
    assert response.status_code == 200
    events = _events(response)
    first = next(events)
    assert json.loads(first)["choices"][0]["delta"]["role"] == "assistant"
    signalled = time.monotonic()
    gateway.process.send_signal(signal.SIGTERM)

    # It stops accepting at once...
    time.sleep(0.3)
    with pytest.raises(httpx.TransportError):
        HTTP.get(f"{gateway.url}/health", timeout=1)
    # ...while the stream goes on to its end: every piece, the usage chunk, [DONE].
    rest = list(events)
    response.close()
    assert rest[-1] == "[DONE]"
    chunks = [json.loads(event) for event in rest[:-1]]
    assert not any("error" in chunk for chunk in chunks)
    content = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert len(content) == 30
    usage = chunks[-1]["usage"]
    assert usage["total_tokens"] > 0
    assert time.monotonic() - signalled > 2.0  # it really waited for the stream

    assert gateway.process.wait(timeout=10) == 0
    log = gateway.log()
    assert "shutting down" in log and "draining 1 requests in flight (1 of them streams)" in log, log

    # Settled to the usage the provider reported, as every replica sees.
    keys = observer.key_usage()
    used = [k for k in keys.values() if k["requests"]]
    assert len(used) == 1 and used[0]["requests"] == 1
    assert used[0]["rate_limit_windows"]["tokens_min"] == usage["total_tokens"]
    assert upstream.stats()["requests"] == 1


def test_the_drain_notice_counts_every_request_in_flight(start_gateway, upstream, echo_upstream):
    """The shutdown notice counts the non-streamed requests still waiting for their provider
    too, not only the open streams (it said "draining 0 open streams" while requests were in
    flight), with the fields docs/operations.md names; the drain lets both finish."""
    upstream.patch_config({"faults": {"chunks": 30, "chunk_gap_ms": 100}})  # a stream of about 3 s
    config = base_config(upstream.url, entry={"models": ["gpt-4o-mini"], "model_map": {}})
    config["provider_keys"].append({"provider": "slow", "type": "openai", "base_url": f"{echo_upstream.url}/v1",
                                    "models": ["gpt-4o"], "key": ["sk-slow-1"]})
    echo_upstream.responder = lambda record: (time.sleep(2), EchoUpstream.default_answer(record))[1]
    gateway = start_gateway(config)

    response = HTTP.send(_stream_request(gateway.url), stream=True)
    events = _events(response)
    next(events)
    whole = {}
    client = threading.Thread(target=lambda: whole.update(response=HTTP.post(
        f"{gateway.url}/v1/chat/completions", headers=AUTH, timeout=15,
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})))
    client.start()
    deadline = time.monotonic() + 5
    while not echo_upstream.requests:  # the whole answer's request has reached its provider
        assert time.monotonic() < deadline
        time.sleep(0.02)

    gateway.process.send_signal(signal.SIGTERM)
    rest = list(events)
    response.close()
    client.join(10)
    assert gateway.process.wait(timeout=10) == 0
    assert rest[-1] == "[DONE]"
    assert whole["response"].status_code == 200
    notices = [json.loads(line) for line in gateway.log().splitlines()
               if line.startswith("{") and '"msg":"shutting down' in line]
    assert len(notices) == 1, gateway.log()
    notice = notices[0]
    assert notice["msg"] == "shutting down: no new connections; draining 2 requests in flight (1 of them streams) for up to 20.0 s"
    assert (notice["requests_in_flight"], notice["streams_in_flight"], notice["drain_seconds"]) == (2, 1, 20)


def _draining_replica(start_gateway, upstream, redis_server, chunks: int, drain_seconds: float):
    """A replica streaming `chunks` pieces 100 ms apart, with the given drain time; a second
    replica on the same Redis to read usage after; the stream's events past its first."""
    upstream.patch_config({"faults": {"chunks": chunks, "chunk_gap_ms": 100}})
    config = base_config(upstream.url, redis=redis_server.url, server={"shutdown_drain_seconds": drain_seconds})
    gateway = start_gateway(config)
    observer = start_gateway(config)
    response = HTTP.send(_stream_request(gateway.url), stream=True)
    events = _events(response)
    next(events)
    return gateway, observer, response, events


def _assert_cut_and_settled(rest: list[str], observer) -> int:
    """The stream ended with the shutdown error event (never a clean finish, never [DONE]) and
    was settled to what it delivered; returns the content events delivered."""
    last = json.loads(rest[-1])
    assert last["error"]["code"] == "gateway_shutting_down", last
    assert "[DONE]" not in rest
    keys = observer.key_usage()
    used = [k for k in keys.values() if k["requests"]]
    assert len(used) == 1 and used[0]["requests"] == 1
    # Without the provider's usage chunk: the prompt estimate plus one token per event delivered,
    # not the reservation's estimate (prompt + max_tokens 200).
    assert 0 < used[0]["rate_limit_windows"]["tokens_min"] < 200
    return sum(1 for event in rest[:-1] if json.loads(event)["choices"])


def test_a_stream_longer_than_the_drain_time_ends_with_an_error_and_is_settled(start_gateway, upstream, redis_server):
    gateway, observer, response, events = _draining_replica(start_gateway, upstream, redis_server, 60, 1)  # about 6 s
    signalled = time.monotonic()
    gateway.process.send_signal(signal.SIGTERM)
    rest = list(events)
    response.close()
    ended_after = time.monotonic() - signalled

    # Cut after the drain time.
    assert 0.8 < ended_after < 3.0, ended_after
    # Exits 0 once the cut stream is settled, well before the forced stop.
    assert gateway.process.wait(timeout=5) == 0
    assert time.monotonic() - signalled < 4.0
    assert 3 <= _assert_cut_and_settled(rest, observer) < 60


def test_a_second_sigterm_ends_the_drain_at_once_and_settles(start_gateway, upstream, redis_server):
    gateway, observer, response, events = _draining_replica(start_gateway, upstream, redis_server, 100, 60)  # about 10 s
    gateway.process.send_signal(signal.SIGTERM)
    # The first signal drains: the stream goes on.
    time.sleep(0.5)
    assert gateway.process.poll() is None
    second = time.monotonic()
    gateway.process.send_signal(signal.SIGTERM)
    rest = list(events)
    response.close()

    # Ended by the second signal, long before the 60 s drain or the stream's own end.
    assert time.monotonic() - second < 3.0
    assert gateway.process.wait(timeout=5) == 0
    assert "second stop signal: ending the drain now" in gateway.log()
    assert _assert_cut_and_settled(rest, observer) < 60


def test_a_request_cut_by_the_forced_stop_is_logged_as_such(start_gateway, upstream):
    """A non-streamed request still waiting for its provider when the drain is cut short: the
    forced stop cancels it. It gets its request log line (gateway_shutting_down), and the
    cancellation is not reported as an unhandled error."""
    # A hang, not a long latency: mock-provider would count a slowed-down request only once its
    # wait ended, seconds after this test, and the next test's clean slate would wait for it.
    upstream.patch_config({"faults": {"hang": True}})
    gateway = start_gateway(base_config(upstream.url, server={"shutdown_drain_seconds": 60}))
    outcome = {}

    def ask():
        try:
            outcome["status"] = HTTP.post(f"{gateway.url}/v1/chat/completions", headers={"Authorization": f"Bearer {ACCESS_KEY}"},
                                          json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                                          timeout=15).status_code
        except httpx.HTTPError as error:
            outcome["error"] = error

    client = threading.Thread(target=ask)
    client.start()
    time.sleep(0.5)
    gateway.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    gateway.process.send_signal(signal.SIGTERM)
    assert gateway.process.wait(timeout=5) == 0
    client.join(5)
    assert outcome.get("status", 503) == 503  # or the connection closed before the answer
    lines = [json.loads(line) for line in gateway.log().splitlines()
             if line.startswith("{") and '"endpoint":"/v1/chat/completions"' in line]
    assert len(lines) == 1 and lines[0]["error"] == "gateway_shutting_down" and lines[0]["status"] == 503
    assert "unhandled error" not in gateway.log()
