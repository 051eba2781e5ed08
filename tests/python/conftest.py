"""Fixtures that run the real mock-provider binary on a free loopback port.

The binary comes from MOCK_PROVIDER_BIN (default: .build/debug/mock-provider under the repo
root, which `make test` builds). Each server is started once per session or module and killed at
teardown; the function-scoped fixtures reset its stats, limit windows and config between tests.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = Path(__file__).resolve().parent / "mock-config.example.json"


# One client for the admin calls: creating an httpx client builds an SSL context (~0.15 s), which
# per call would dominate the suite's run time. Loopback plain HTTP needs no certificates.
_HTTP = httpx.Client(verify=False, timeout=10)


def _binary() -> Path:
    path = Path(os.environ.get("MOCK_PROVIDER_BIN", ".build/debug/mock-provider"))
    if not path.is_absolute():
        path = REPO / path
    if not path.exists():
        pytest.exit(f"mock-provider binary not found at {path}; build it or set MOCK_PROVIDER_BIN", 2)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MockProvider:
    """A running mock-provider process and helpers for its admin endpoints."""

    def __init__(self, config: dict | None = None):
        self.config = config
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._config_file = None
        args = [str(_binary()), "--port", str(self.port)]
        if config is not None:
            self._config_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
            json.dump(config, self._config_file)
            self._config_file.close()
            args += ["--config", self._config_file.name]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._wait_until_listening()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mock-provider exited: {self.process.stdout.read()}")
            try:
                if _HTTP.get(f"{self.url}/_mock/health", timeout=0.5).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("mock-provider did not start listening")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        if self._config_file:
            os.unlink(self._config_file.name)

    # Admin endpoints -----------------------------------------------------------------------
    def stats(self) -> dict:
        return _HTTP.get(f"{self.url}/_mock/stats").json()

    def key_stats(self, key: str) -> dict:
        return self.stats()["by_key"].get(key, {"requests": 0, "statuses": {}})

    def reset(self) -> None:
        _HTTP.post(f"{self.url}/_mock/reset").raise_for_status()

    def set_config(self, config: dict) -> dict:
        response = _HTTP.post(f"{self.url}/_mock/config", json=config)
        response.raise_for_status()
        return response.json()

    def patch_config(self, patch: dict) -> dict:
        response = _HTTP.patch(f"{self.url}/_mock/config", json=patch)
        response.raise_for_status()
        return response.json()

    def restore(self) -> None:
        """Back to the start-up config with empty stats and windows."""
        self.wait_until_quiet()
        self.set_config(self.config or {})
        self.reset()

    def wait_until_quiet(self, timeout: float = 30.0) -> None:
        """Waits until no request is pending: one still waiting out a latency fault (its client
        gone, e.g. a gateway stopped at an earlier test's end) is counted only when its wait
        ends, and after a reset that count would land in the next test's stats and windows."""
        deadline = time.monotonic() + timeout
        while (pending := self.stats()["pending"]) > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"mock-provider still has {pending} request(s) pending after {timeout} s")
            time.sleep(0.02)


@pytest.fixture(scope="session")
def _example_server():
    server = MockProvider(json.loads(EXAMPLE_CONFIG.read_text()))
    yield server
    server.stop()


@pytest.fixture
def mock(_example_server: MockProvider) -> MockProvider:
    """The server started from mock-config.example.json, clean for each test."""
    _example_server.restore()
    return _example_server


@pytest.fixture(scope="session")
def _strict_server():
    server = MockProvider({"keys": {"sk-known": {}, "sk-other": {"requests_per_minute": 3}}})
    yield server
    server.stop()


@pytest.fixture
def strict(_strict_server: MockProvider) -> MockProvider:
    """A server that accepts only sk-known and sk-other."""
    _strict_server.restore()
    return _strict_server


# The gateway's end-to-end fixtures (gateway_fixtures.py): its own upstream mock, Redis, gateways.
from gateway_fixtures import (  # noqa: E402,F401
    _redis_server,
    _upstream_mock,
    echo_upstream,
    gateway,
    redis_gateway,
    redis_server,
    start_gateway,
    upstream,
)
