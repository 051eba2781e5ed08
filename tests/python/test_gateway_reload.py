"""Hot reload of config.json (issue 8), end to end: a real gateway process on Redis under steady
traffic from a client thread, mock-provider's per-key stats as the proof of which keys were used,
and the config file edited the ways operators and Kubernetes edit it.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import threading
import time
from pathlib import Path

from gateway_fixtures import ACCESS_KEY, KEY_IDS, PROVIDER_KEYS, base_config, new_http_client

A, B, C = PROVIDER_KEYS
GOOD = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


class Traffic:
    """Requests at a steady rate from a thread; every answer's status and key id is kept."""

    def __init__(self, gateway, interval: float = 0.02):
        self.gateway = gateway
        self.interval = interval
        self.results: list[tuple[float, int, str | None]] = []
        self.running = threading.Event()
        self.running.set()
        self.idle = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        body = json.dumps(GOOD)
        headers = {"Authorization": f"Bearer {ACCESS_KEY}", "Content-Type": "application/json"}
        with new_http_client(timeout=10) as client:
            while not self.stopped:
                if not self.running.is_set():
                    self.idle.set()
                    time.sleep(0.005)
                    continue
                self.idle.clear()
                response = client.post(f"{self.gateway.url}/v1/chat/completions", content=body, headers=headers)
                self.results.append((time.monotonic(), response.status_code, response.headers.get("x-gateway-key-id")))
                time.sleep(self.interval)

    def pause(self):
        """Stops sending and waits until no request is in flight."""
        self.running.clear()
        self.idle.wait(5)
        time.sleep(0.05)  # the last answer's settle runs just after its last byte

    def resume(self):
        self.running.set()

    def stop(self):
        self.stopped = True
        self.thread.join(10)

    def failures(self):
        return [r for r in self.results if r[1] != 200]


def write_atomically(path: Path, text: str) -> None:
    """As most editors save: a new file renamed over the old one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def config_with(upstream, redis_server, keys, **entry):
    return base_config(
        upstream.url, redis=redis_server.url, model_usage_gap_percentage=0,
        entry={"key": list(keys), "max_request_day": None, "max_request_min": None, **entry})


def wait_for(check, timeout: float = 3.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    return check()


def counters(gateway, key_ids) -> dict:
    keys = gateway.key_usage()
    return {k: {f: keys[k][f] for f in ("requests", "rate_limit_windows", "total_requests", "total_tokens")} for k in key_ids}


def reloads(gateway) -> int:
    return gateway.log().count("config reloaded:")


def test_keys_rotate_under_load_without_a_failed_request(start_gateway, upstream, redis_server):
    gateway = start_gateway(config_with(upstream, redis_server, [A, B]))
    path = gateway.config_path
    traffic = Traffic(gateway)
    try:
        time.sleep(0.5)
        assert {r[2] for r in traffic.results} == {KEY_IDS[0], KEY_IDS[1]}

        def edit(config: dict, *, atomic: bool = True, pause: bool = True) -> float:
            """Applies an edit; with traffic paused around it, checks that the keys that stay
            kept their counters exactly."""
            if pause:
                traffic.pause()
            before_hash = gateway.get("/health").json()["config_hash"]
            old_ids = {k for k in KEY_IDS if k in gateway.key_usage()}
            before = counters(gateway, old_ids)
            done = reloads(gateway)
            text = json.dumps(config)
            write_atomically(path, text) if atomic else path.write_text(text)
            edited = time.monotonic()
            assert wait_for(lambda: reloads(gateway) > done), gateway.log()
            health = gateway.get("/health").json()
            assert health["config_hash"] != before_hash
            assert health["last_reload_error"] is None
            if pause:
                kept = old_ids & {k for k in KEY_IDS if k in gateway.key_usage()}
                assert counters(gateway, kept) == {k: before[k] for k in kept}
                traffic.resume()
            return edited

        # A new key gets traffic at once.
        edited = edit(config_with(upstream, redis_server, [A, B, C]))
        assert wait_for(lambda: upstream.key_stats(C)["requests"] > 0, timeout=2.0)
        assert time.monotonic() - edited < 2.0

        # A removed key gets no request once the reload is logged (edited in place, under
        # traffic). The one request in flight at the swap may have taken the old config and
        # still finish on it: counting starts once the request after it has been answered (a
        # fixed 0.1 s grace was too short on a loaded machine), plus the mock's count lag.
        edit(config_with(upstream, redis_server, [B, C]), atomic=False, pause=False)
        answered = len(traffic.results)
        assert wait_for(lambda: len(traffic.results) >= answered + 2, timeout=5.0)
        time.sleep(0.1)
        removed_at = upstream.key_stats(A)["requests"]
        time.sleep(1.5)
        assert upstream.key_stats(A)["requests"] == removed_at
        assert KEY_IDS[0] not in gateway.key_usage()

        # A changed limit applies at once.
        edit(config_with(upstream, redis_server, [B, C], max_request_min=1000, max_request_day=5000))
        limits = gateway.usage()["details"]["mock"]["rate_limits"]
        assert (limits["max_request_min"], limits["max_request_day"]) == (1000, 5000)

        # A broken file (half written) keeps the running config and says so in /health.
        running = gateway.get("/health").json()["config_hash"]
        good_text = json.dumps(config_with(upstream, redis_server, [B, C], max_request_min=900))
        path.write_text(good_text[: len(good_text) // 2])
        health = wait_for(lambda: (h := gateway.get("/health").json())["last_reload_error"] and h)
        assert health["config_hash"] == running
        assert "not valid JSON" in health["last_reload_error"]
        served_while_broken = len(traffic.results)
        time.sleep(0.5)
        assert len(traffic.results) > served_while_broken
        assert "config reload refused" in gateway.log()

        # A failed validation too, naming the field.
        bad = config_with(upstream, redis_server, [B, C], max_request_min=-1)
        write_atomically(path, json.dumps(bad))
        assert wait_for(lambda: "max_request_min" in (gateway.get("/health").json()["last_reload_error"] or ""))
        assert gateway.get("/health").json()["config_hash"] == running

        # An unreadable file (a directory in its place): /health names the file, not its directory.
        path.unlink()
        path.mkdir()
        error = wait_for(lambda: "cannot read" in (e := gateway.get("/health").json()["last_reload_error"] or "") and e)
        assert "config.json" in error and str(path.parent) not in error, error
        assert gateway.get("/health").json()["config_hash"] == running
        assert str(path) in gateway.log()  # the operator's log keeps the whole path
        path.rmdir()

        # Fixed: the next reload succeeds and the error is gone.
        write_atomically(path, good_text)
        health = wait_for(lambda: (h := gateway.get("/health").json())["config_hash"] != running and h)
        assert health["last_reload_error"] is None
        assert gateway.usage()["details"]["mock"]["rate_limits"]["max_request_min"] == 900
        time.sleep(0.3)
    finally:
        traffic.stop()
    assert len(traffic.results) > 50
    assert traffic.failures() == []
    # Secrets never reach the log, whatever was reloaded.
    log = gateway.log()
    assert not any(key in log for key in PROVIDER_KEYS)
    assert ACCESS_KEY not in log


def test_a_configmap_symlink_swap_is_picked_up(start_gateway, upstream):
    """Kubernetes mounts a ConfigMap as `config.json -> ..data/config.json`, `..data -> ..<ts>`,
    and updates it by pointing `..data` at a new directory (one rename)."""
    gateway = start_gateway(base_config(upstream.url))
    directory = gateway.config_path.parent
    first = directory / "..2026_11_22_01"
    first.mkdir()
    (first / "config.json").write_text(gateway.config_path.read_text())
    os.symlink(first.name, directory / "..data")
    os.symlink("..data/config.json", directory / "config.json.link")
    os.replace(directory / "config.json.link", gateway.config_path)
    original = gateway.get("/health").json()["config_hash"]

    changed = copy.deepcopy(gateway.config)
    changed["provider_keys"][0]["max_request_min"] = 7
    second = directory / "..2026_11_22_02"
    second.mkdir()
    (second / "config.json").write_text(json.dumps(changed))
    os.symlink(second.name, directory / "..data_tmp")
    os.replace(directory / "..data_tmp", directory / "..data")

    health = wait_for(lambda: (h := gateway.get("/health").json())["config_hash"] != original and h, timeout=2.0)
    assert health["config_hash"] != original
    assert gateway.usage()["details"]["mock"]["rate_limits"]["max_request_min"] == 7


def test_sighup_forces_a_reload(start_gateway, upstream):
    gateway = start_gateway(base_config(upstream.url))
    hash_before = gateway.get("/health").json()["config_hash"]
    gateway.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "config reload requested (SIGHUP)" in gateway.log() and "config reloaded:" in gateway.log())
    assert gateway.process.poll() is None
    assert gateway.get("/health").json()["config_hash"] == hash_before
    assert gateway.chat(GOOD).status_code == 200


def test_an_access_key_change_applies_at_once(start_gateway, upstream):
    gateway = start_gateway(base_config(upstream.url))
    assert gateway.chat(GOOD, key="rotated-access").status_code == 401
    config = copy.deepcopy(gateway.config)
    config["access_keys"] = ["rotated-access"]
    done = reloads(gateway)
    write_atomically(gateway.config_path, json.dumps(config))
    assert wait_for(lambda: reloads(gateway) > done)
    assert gateway.chat(GOOD, key="rotated-access").status_code == 200
    # The old second key is gone; the first (`access_key`) stays.
    assert gateway.chat(GOOD, key=base_config(upstream.url)["access_keys"][0]).status_code == 401
    assert gateway.chat(GOOD, key=ACCESS_KEY).status_code == 200


def test_health_names_the_settings_that_wait_for_a_restart(start_gateway, upstream, redis_server):
    """A reload applies what it can; settings read only at start-up (redis, the failure mode,
    ...) wait for a restart. /health lists them, so equal hashes across replicas are not taken
    for a converged fleet while some of the file is not in effect yet."""
    gateway = start_gateway(base_config(upstream.url))
    health = gateway.get("/health", key=None).json()
    assert health["restart_required"] == []
    config = copy.deepcopy(gateway.config)
    config["redis"] = redis_server.url
    config["server"]["redis_failure_mode"] = "fail_closed"
    write_atomically(gateway.config_path, json.dumps(config))
    assert wait_for(lambda: gateway.get("/health", key=None).json()["restart_required"]
                    == ["redis", "server.redis_failure_mode"])
    # The hash is the new file's; the store is still the one it started with.
    health = gateway.get("/health", key=None).json()
    assert health["last_reload_error"] is None and health["store"]["type"] == "memory"
    # A later reload that changes nothing at start-up still lists them, until a restart.
    config["model_usage_gap_percentage"] = 7
    write_atomically(gateway.config_path, json.dumps(config))
    assert wait_for(lambda: reloads(gateway) == 2)
    assert gateway.get("/health", key=None).json()["restart_required"] == ["redis", "server.redis_failure_mode"]


def test_current_key_never_names_a_removed_key(start_gateway, upstream, redis_server):
    gateway = start_gateway(config_with(upstream, redis_server, [A, B]))
    assert gateway.chat(GOOD).status_code == 200
    assert gateway.usage()["details"]["mock"]["current_key"] == KEY_IDS[0]
    write_atomically(gateway.config_path, json.dumps(config_with(upstream, redis_server, [C])))
    assert wait_for(lambda: reloads(gateway) == 1)
    # Before any request picks a key of the new list: no current key rather than a removed one.
    assert gateway.usage()["details"]["mock"]["current_key"] is None
    assert gateway.chat(GOOD).status_code == 200
    assert gateway.usage()["details"]["mock"]["current_key"] == KEY_IDS[2]
