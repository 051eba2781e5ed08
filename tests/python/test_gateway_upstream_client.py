"""The gateway's own upstream HTTP client: kept-alive connections, the per-host cap, answers
that close their connection, and TLS to a provider whose certificate is not trusted.

The upstream is `EchoUpstream` (gateway_fixtures.py), which records the gateway's source port of
every request, so connection reuse is seen from the provider's side.
"""

from __future__ import annotations

import http.server
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from gateway_fixtures import assert_no_secrets, base_config, free_port

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_connections_are_kept_alive_and_capped_per_host(start_gateway, echo_upstream):
    def slow(record):
        time.sleep(0.05)  # long enough for the 12 requests below to overlap
        return echo_upstream.default_answer(record)
    echo_upstream.responder = slow
    gateway = start_gateway(base_config(echo_upstream.url, server={"upstream_connections_per_host": 2}))
    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda _: gateway.chat(BODY).status_code, range(12)))
    assert statuses == [200] * 12
    peers = {r["peer"] for r in echo_upstream.requests}
    # Twelve requests at once on at most two connections: the other ten waited for one.
    assert 1 <= len(peers) <= 2
    for _ in range(5):
        assert gateway.chat(BODY).status_code == 200
    assert {r["peer"] for r in echo_upstream.requests} == peers  # reused, none opened again
    assert len(echo_upstream.requests) == 17


def test_an_answer_that_closes_its_connection_is_not_reused(start_gateway, echo_upstream):
    def closing(record):
        status, headers, body = echo_upstream.default_answer(record)
        return status, {**headers, "Connection": "close"}, body
    echo_upstream.responder = closing
    gateway = start_gateway(base_config(echo_upstream.url))
    for _ in range(4):
        response = gateway.chat(BODY)
        assert response.status_code == 200
        assert response.json()["usage"]["total_tokens"] == 7
    # A new connection for each: none was written to after the provider said it would close.
    assert len({r["peer"] for r in echo_upstream.requests}) == 4


class _TLSUpstream:
    """An HTTPS server with a self-signed certificate no trust store holds."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gw-tls-")
        key, cert = os.path.join(self.dir, "key.pem"), os.path.join(self.dir, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
        self.port = free_port()
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_https_upstream_with_an_untrusted_certificate_is_unreachable(start_gateway):
    upstream = _TLSUpstream()
    try:
        gateway = start_gateway(base_config(f"https://localhost:{upstream.port}"))
        started = time.monotonic()
        response = gateway.chat(BODY)
        assert time.monotonic() - started < 5
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "upstream_unreachable"
        assert_no_secrets(response, gateway)
        assert upstream.requests == 0  # the handshake failed: no request was sent
    finally:
        upstream.stop()


def test_a_provider_that_accepts_and_never_answers_times_out(start_gateway):
    """A listener that accepts and stays silent: 504 after upstream_timeout_seconds, not a hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        gateway = start_gateway(base_config(f"http://127.0.0.1:{port}", server={"upstream_timeout_seconds": 1},
                                            failover={"max_attempts": 1}))
        started = time.monotonic()
        response = gateway.chat(BODY)
        took = time.monotonic() - started
        assert response.status_code == 504, response.text
        assert response.json()["error"]["code"] == "upstream_timeout"
        assert 0.9 < took < 4
    finally:
        listener.close()


def test_a_reused_connection_gets_the_whole_timeout(start_gateway, echo_upstream):
    """The silence timer starts when a request is written, not at the connection's last read:
    a connection idle for most of the timeout still waits the whole timeout for a slow answer."""
    delays = [0.0, 0.7]

    def answer(record):
        time.sleep(delays[len(echo_upstream.requests) - 1])
        return echo_upstream.default_answer(record)
    echo_upstream.responder = answer
    gateway = start_gateway(base_config(echo_upstream.url, server={"upstream_timeout_seconds": 1},
                                        failover={"max_attempts": 1}))
    assert gateway.chat(BODY).status_code == 200
    time.sleep(0.6)  # pooled, idle
    response = gateway.chat(BODY)  # 0.6 s idle + 0.7 s to answer: over 1 s since the last read
    assert response.status_code == 200, response.text
    assert len({r["peer"] for r in echo_upstream.requests}) == 1  # the same, reused connection
