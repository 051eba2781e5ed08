"""Fixtures that run the real gateway (and a Redis server) as processes, for end-to-end tests.

- `RedisServer`: a throwaway `redis-server` on a free loopback port (no persistence).
- `Gateway`: writes a temporary config, starts the gateway binary (GATEWAY_BIN, default
  .build/debug/gateway under the repo root), waits for /health, and stops it at teardown.
- `EchoUpstream`: a tiny OpenAI-compatible upstream in Python that records exactly what the
  gateway sent it (headers, path, body bytes) and answers as told, for the checks the
  mock-provider cannot make (what reached the upstream, secrets echoed in error bodies).

The gateway's upstream in most tests is its own mock-provider instance, configured to accept
only the gateway's provider keys, so anything else reaching it (e.g. the client's access key)
would be answered 401 and show up in its stats.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import httpx
import openai
import pytest

from helpers import key_id

REPO = Path(__file__).resolve().parents[2]

ACCESS_KEY = "test-access"
SECOND_ACCESS_KEY = "second-access"
PROVIDER_KEYS = ["sk-mock-alpha-1111", "sk-mock-beta-2222", "sk-mock-gamma-3333"]
KEY_IDS = [key_id(k) for k in PROVIDER_KEYS]

# One shared client: building an httpx client builds an SSL context (~0.15 s). Loopback only.
HTTP = httpx.Client(verify=False, timeout=15)


def new_http_client(**kwargs) -> httpx.Client:
    """A private client (its own connections), cheap to build."""
    return httpx.Client(verify=False, **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gateway_binary() -> Path:
    path = Path(os.environ.get("GATEWAY_BIN", ".build/debug/gateway"))
    if not path.is_absolute():
        path = REPO / path
    if not path.exists():
        pytest.exit(f"gateway binary not found at {path}; build it or set GATEWAY_BIN", 2)
    return path


# Redis -----------------------------------------------------------------------------------------

def server_port() -> int:
    """A free loopback port outside the kernel's ephemeral range, for a server that is stopped
    and started again on the same port: while it is down, the gateway's reconnect attempts could
    otherwise take the port themselves (a TCP self-connect, source port = destination port)."""
    import random

    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    candidates = range(10000, low) if low > 12000 else range(high + 1, 65536)
    for _ in range(200):
        port = random.choice(candidates)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free loopback port outside the ephemeral range")


class RedisServer:
    """A `redis-server` process with no persistence, on a free port."""

    def __init__(self, port: int | None = None):
        """On a free port, or on `port` to bring a stopped server back where clients expect it."""
        self.port = port or server_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("redis-server exited at start-up")
            try:
                if self.command("PING") == "PONG":
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def command(self, *args: str):
        """One command over a fresh connection; enough RESP to read simple replies."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(payload.encode())
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        line = data.split(b"\r\n", 1)[0].decode()
        if line[0] in "+-:":
            return line[1:] if line[0] != ":" else int(line[1:])
        return data

    def flush(self) -> None:
        assert self.command("FLUSHALL") == "OK"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


# Gateway ---------------------------------------------------------------------------------------

def base_config(upstream_url: str, **overrides) -> dict:
    """The suite's standard config: one `mock` entry with three keys in front of `upstream_url`.

    `overrides` replace top-level fields; `entry` (a dict) is merged into the provider entry.
    """
    entry = {
        "provider": "mock", "type": "openai", "base_url": f"{upstream_url}/v1",
        "models": ["gpt-4o-mini", "gpt-4o"], "model_map": {"mock-large": "gpt-4o"},
        "key": list(PROVIDER_KEYS),
        "max_request_day": 100, "max_request_min": 30,
    }
    entry.update(overrides.pop("entry", {}))
    config = {
        "access_key": ACCESS_KEY, "access_keys": [SECOND_ACCESS_KEY],
        "model_usage_gap_percentage": 5,
        "auto-models": ["gpt-4o-mini"],
        "provider_keys": [entry],
        "server": {"max_body_bytes": 65536},
    }
    server = overrides.pop("server", {})
    config.update(overrides)
    config["server"] = {**config["server"], **server}
    return config


class Gateway:
    """A running gateway process and helpers to talk to it."""

    def __init__(self, config: dict, env: dict | None = None):
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = tempfile.TemporaryDirectory(prefix="gateway-test-")
        self.config_path = Path(self._dir.name) / "config.json"
        self.config_path.write_text(json.dumps(config))
        self.log_path = Path(self._dir.name) / "gateway.log"
        self._log = open(self.log_path, "w")
        # Never a PIPE: an unread pipe fills up and blocks the server's logging.
        self.process = subprocess.Popen(
            [str(_gateway_binary()), "--config", str(self.config_path), "--port", str(self.port), "--host", "127.0.0.1"],
            stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}: {self.log()}")
            try:
                response = HTTP.get(f"{self.url}/health", timeout=0.5)
                # With Redis, wait for the connection too (the store reports ok once connected).
                if response.status_code == 200 and response.json()["store"]["status"] == "ok":
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.03)
        raise RuntimeError(f"gateway did not become ready: {self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()
        self._dir.cleanup()

    # Clients ---------------------------------------------------------------------------------
    def headers(self, key: str = ACCESS_KEY) -> dict:
        return {"Authorization": f"Bearer {key}"}

    def openai(self, key: str = ACCESS_KEY, **kwargs) -> openai.OpenAI:
        timeout = kwargs.pop("timeout", 15.0)
        return openai.OpenAI(
            base_url=f"{self.url}/v1", api_key=key, max_retries=0, timeout=timeout,
            http_client=new_http_client(timeout=timeout), **kwargs)

    def chat(self, body, key: str | None = ACCESS_KEY, headers: dict | None = None, path: str = "/v1/chat/completions", **kwargs) -> httpx.Response:
        """POST a chat body (a dict is sent as JSON, bytes/str as they are)."""
        all_headers = {"Content-Type": "application/json"}
        if key is not None:
            all_headers["Authorization"] = f"Bearer {key}"
        all_headers.update(headers or {})
        content = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return HTTP.post(f"{self.url}{path}", content=content, headers=all_headers, timeout=kwargs.pop("timeout", 15.0), **kwargs)

    def get(self, path: str, key: str | None = ACCESS_KEY) -> httpx.Response:
        return HTTP.get(f"{self.url}{path}", headers=self.headers(key) if key else {}, timeout=10)

    def usage(self) -> dict:
        response = self.get("/v1/usage")
        assert response.status_code == 200, response.text
        return response.json()

    def key_usage(self, provider: str = "mock") -> dict:
        """details[provider].keys, by key id."""
        return self.usage()["details"][provider]["keys"]

    def wait_usage(self, check: Callable[[dict], bool], timeout: float = 2.0) -> dict:
        """/v1/usage once `check` holds. Settling runs just after the answer's last byte, so a
        reading taken at once may still show the reservation's estimate; this waits for it
        (briefly) and returns the last reading either way, for the caller to assert on."""
        deadline = time.monotonic() + timeout
        while True:
            usage = self.usage()
            if check(usage) or time.monotonic() > deadline:
                return usage
            time.sleep(0.02)

    def upstream_connections(self, port: int) -> int:
        """ESTABLISHED TCP connections this gateway process holds to 127.0.0.1:`port`."""
        inodes = set()
        fd_dir = Path(f"/proc/{self.process.pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        count = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                lines = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                remote_port = int(fields[2].split(":")[1], 16)
                if fields[3] == "01" and remote_port == port and fields[9] in inodes:
                    count += 1
        return count


# A hand-driven upstream ------------------------------------------------------------------------

class EchoUpstream:
    """An HTTP/1.1 server that records every request and answers with `responder(record)`.

    A record is a dict: method, path, headers (lower-cased names -> value), body (bytes).
    The responder returns (status, headers dict, body bytes); the default is an OpenAI chat
    completion with a usage object.
    """

    def __init__(self):
        self.requests: list[dict] = []
        self.responder: Callable[[dict], tuple[int, dict, bytes]] = self.default_answer
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                record = {
                    "method": self.command, "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "header_list": [(k.lower(), v) for k, v in self.headers.items()],
                    "body": body,
                    # The gateway's side of the connection: which of its pooled connections this was.
                    "peer": self.client_address[1],
                }
                outer.requests.append(record)
                status, headers, payload = outer.responder(record)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = _handle
            do_GET = _handle

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @staticmethod
    def default_answer(record: dict) -> tuple[int, dict, bytes]:
        body = {
            "id": "chatcmpl-echo", "object": "chat.completion", "created": 1, "model": "echo",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "echo"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# Fixtures --------------------------------------------------------------------------------------

UPSTREAM_MOCK_CONFIG = {"keys": {key: {} for key in PROVIDER_KEYS}}


@pytest.fixture(scope="session")
def _upstream_mock():
    from conftest import MockProvider

    server = MockProvider(UPSTREAM_MOCK_CONFIG)
    yield server
    server.stop()


@pytest.fixture
def upstream(_upstream_mock):
    """The gateway's upstream: a mock-provider that accepts only PROVIDER_KEYS, clean per test."""
    _upstream_mock.restore()
    return _upstream_mock


@pytest.fixture(scope="session")
def _redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def redis_server(_redis_server):
    """The session's Redis, emptied for each test."""
    _redis_server.flush()
    return _redis_server


@pytest.fixture
def start_gateway():
    """Starts gateways with `start_gateway(config, env=None)`; all are stopped at teardown."""
    started: list[Gateway] = []

    def start(config: dict, env: dict | None = None) -> Gateway:
        gateway = Gateway(config, env)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(start_gateway, upstream) -> Gateway:
    """A gateway with the standard config and the in-memory store, in front of `upstream`."""
    return start_gateway(base_config(upstream.url))


@pytest.fixture
def redis_gateway(start_gateway, upstream, redis_server) -> Gateway:
    """A gateway with the standard config on the (emptied) Redis store."""
    return start_gateway(base_config(upstream.url, redis=redis_server.url))


@pytest.fixture
def echo_upstream():
    server = EchoUpstream()
    yield server
    server.stop()


# Assertions ------------------------------------------------------------------------------------

def secrets_for(gateway: Gateway) -> list[str]:
    """Strings no client-visible byte may contain: provider keys, access keys, upstream URLs."""
    config = gateway.config
    found = [config["access_key"], *config.get("access_keys", [])]
    for entry in config["provider_keys"]:
        keys = entry["key"] if isinstance(entry["key"], list) else [entry["key"]]
        found += keys
        base = entry.get("base_url")
        if base:
            found.append(base)
            hostport = base.split("//", 1)[1].split("/", 1)[0]
            found.append(hostport)
    return found


def assert_no_secrets(response: httpx.Response, gateway: Gateway, body: bytes | None = None) -> None:
    raw = body if body is not None else response.content
    header_text = "\n".join(f"{k}: {v}" for k, v in response.headers.multi_items())
    for secret in secrets_for(gateway):
        assert secret.encode() not in raw, f"response body leaks {secret!r}: {raw[:500]!r}"
        assert secret not in header_text, f"response headers leak {secret!r}: {header_text}"
