#!/usr/bin/env python3
"""A local cluster without Docker: redis-server, N gateway replicas and nginx on loopback.

    make cluster REPLICAS=3                  # config.json, your own provider keys
    make cluster REPLICAS=3 MOCK=1           # demo/config.json against a local mock-provider

It starts everything, prints the endpoints, and tears it all down on Ctrl-C or SIGTERM: the
replicas get SIGTERM (they drain their in-flight requests and streams), then nginx and Redis
stop. Every replica gets `--redis` pointing at the cluster's own Redis and watches the same
config file, so editing it reaches all of them (hot reload).

Only the standard library: it runs before any virtualenv exists. `--state FILE` writes the
endpoints and process ids as JSON for scripts and tests; `--free-ports` picks unused ports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(what: str, check, process: subprocess.Popen, log: Path | None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise SystemExit(f"cluster: {what} exited with {process.returncode} at start-up\n{tail}")
        try:
            if check():
                return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"cluster: {what} did not become ready within {timeout:.0f} s")


def http_json(url: str):
    with urllib.request.urlopen(url, timeout=1) as response:
        return json.loads(response.read())


def redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(16).startswith(b"+PONG")


class Cluster:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.bin = Path(args.bin).resolve()
        self.config = Path(args.config).resolve()
        self.run_dir = Path(tempfile.mkdtemp(prefix="gateway-cluster-"))
        # name -> (process, log path); started in order, stopped in reverse.
        self.processes: list[tuple[str, subprocess.Popen, Path | None]] = []
        self.replicas: list[dict] = []
        pick = free_port if args.free_ports else None
        self.nginx_port = pick() if pick else args.port
        self.redis_port = pick() if pick else args.redis_port
        self.replica_ports = [pick() if pick else args.base_port + i for i in range(args.replicas)]
        self.mock_port = (pick() if pick else args.mock_port) if args.mock else None

    # Start ---------------------------------------------------------------------------------------
    def start(self) -> None:
        wanted = [self.nginx_port, *self.replica_ports]
        if not self.args.redis_url:
            wanted.append(self.redis_port)
        if self.mock_port:
            wanted.append(self.mock_port)
        busy = [p for p in wanted if port_in_use(p)]
        if busy:
            raise SystemExit(f"cluster: ports already in use: {busy} (choose others, or --free-ports)")
        for tool in ("nginx", "redis-server") if not self.args.redis_url else ("nginx",):
            if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
                raise SystemExit(f"cluster: {tool} not found (make deps installs it)")
        if self.mock_port:
            self._start_mock()
        redis_url = self.args.redis_url or self._start_redis()
        for index, port in enumerate(self.replica_ports, start=1):
            self._start_gateway(index, port, redis_url)
        self._start_nginx()
        self.redis_url = redis_url

    def _spawn(self, name: str, argv: list[str], log: Path | None, env: dict | None = None) -> subprocess.Popen:
        out = open(log, "w") if log else subprocess.DEVNULL
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.processes.append((name, process, log))
        return process

    def _start_mock(self) -> None:
        log = self.run_dir / "mock-provider.log"
        process = self._spawn("mock-provider", [str(self.bin / "mock-provider"), "--port", str(self.mock_port)], log)
        url = f"http://127.0.0.1:{self.mock_port}/_mock/health"
        wait_for("mock-provider", lambda: urllib.request.urlopen(url, timeout=1).status == 200, process, log)

    def _start_redis(self) -> str:
        # AOF on, as in production: a restarted Redis keeps the day's counters.
        redis_dir = self.run_dir / "redis"
        redis_dir.mkdir()
        log = self.run_dir / "redis.log"
        argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(redis_dir),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
        process = self._spawn("redis-server", argv, log)
        wait_for("redis-server", lambda: redis_ping(self.redis_port), process, log)
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def _start_gateway(self, index: int, port: int, redis_url: str) -> None:
        log = self.run_dir / f"gateway-{index}.log"
        argv = [str(self.bin / "gateway"), "--config", str(self.config), "--host", "127.0.0.1", "--port", str(port),
                "--redis", redis_url, "--log-level", self.args.log_level]
        process = self._spawn(f"gateway-{index}", argv, log, env=os.environ.copy())
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            health = http_json(f"{url}/health")
            return health["store"]["status"] == "ok"

        wait_for(f"gateway-{index}", healthy, process, log)
        self.replicas.append({"name": f"gateway-{index}", "url": url, "pid": process.pid, "log": str(log)})

    def _start_nginx(self) -> None:
        (self.run_dir / "nginx-tmp").mkdir()
        servers = "\n".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in self.replica_ports)
        text = (HERE / "nginx.conf.in").read_text()
        for name, value in {"@RUN_DIR@": str(self.run_dir), "@PORT@": str(self.nginx_port),
                            "@UPSTREAM_SERVERS@": servers}.items():
            text = text.replace(name, value)
        conf = self.run_dir / "nginx.conf"
        conf.write_text(text)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        log = self.run_dir / "nginx.log"
        # -e: the error log before the config is read (the default path needs root).
        process = self._spawn("nginx", [nginx, "-e", str(self.run_dir / "nginx-error.log"), "-p", str(self.run_dir),
                                        "-c", str(conf)], log)
        url = f"http://127.0.0.1:{self.nginx_port}/nginx-health"
        wait_for("nginx", lambda: urllib.request.urlopen(url, timeout=1).status == 200, process, log)

    # Report --------------------------------------------------------------------------------------
    def describe(self) -> dict:
        return {
            "url": f"http://127.0.0.1:{self.nginx_port}",
            "nginx_pid": next(p.pid for n, p, _ in self.processes if n == "nginx"),
            "replicas": self.replicas,
            "redis": self.redis_url,
            "mock_provider": f"http://127.0.0.1:{self.mock_port}" if self.mock_port else None,
            "config": str(self.config),
            "run_dir": str(self.run_dir),
            "launcher_pid": os.getpid(),
        }

    def print_endpoints(self) -> None:
        state = self.describe()
        print(f"cluster: {len(self.replicas)} gateway replicas behind nginx, one Redis", flush=True)
        print(f"  load balancer  {state['url']}   (send your requests here)")
        for replica in self.replicas:
            print(f"  {replica['name']:<14} {replica['url']}   pid {replica['pid']}   log {replica['log']}")
        print(f"  redis          {state['redis']}")
        if state["mock_provider"]:
            print(f"  mock-provider  {state['mock_provider']}")
        print(f"  config         {state['config']}   (edits reach every replica: hot reload)")
        print(f"  logs           {state['run_dir']}")
        print("Ctrl-C stops everything.", flush=True)

    # Stop ----------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Replicas first (SIGTERM: they drain and settle), then nginx, then Redis last, so
        settling never finds the store gone."""
        gateways = [(n, p) for n, p, _ in self.processes if n.startswith("gateway-")]
        for _, process in gateways:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        drain = self.args.stop_timeout
        for name, process in gateways:
            try:
                process.wait(timeout=drain)
            except subprocess.TimeoutExpired:
                print(f"cluster: {name} did not stop within {drain} s; killing it", file=sys.stderr)
                process.kill()
                process.wait()
            if not getattr(process, "_reported", False):
                print(f"cluster: {name} stopped with exit code {process.returncode}", flush=True)
        for name, process, _ in reversed(self.processes):
            if name.startswith("gateway-") or process.poll() is not None:
                continue
            # nginx: SIGQUIT is its graceful stop; redis-server: SIGTERM writes the AOF and exits.
            process.send_signal(signal.SIGQUIT if name == "nginx" else signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.args.keep_logs:
            print(f"cluster: logs kept in {self.run_dir}")
        else:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--config", default=str(REPO / "config.json"))
    parser.add_argument("--bin", default=str(REPO / ".build/debug"), help="folder with gateway (and mock-provider)")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port (the cluster's endpoint)")
    parser.add_argument("--base-port", type=int, default=8081, help="first replica's port; the others follow")
    parser.add_argument("--redis-port", type=int, default=6380)
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    parser.add_argument("--mock", action="store_true", help="also start mock-provider (for demo/config.json)")
    parser.add_argument("--mock-port", type=int, default=18090, help="mock-provider's port (demo/config.json uses 18090)")
    parser.add_argument("--free-ports", action="store_true", help="pick unused ports for everything")
    parser.add_argument("--state", help="write the endpoints and pids here as JSON once everything is up")
    parser.add_argument("--log-level", default="notice")
    parser.add_argument("--stop-timeout", type=float, default=40, help="seconds to wait for a replica's drain")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    if not Path(args.config).is_file():
        parser.error(f"config file {args.config} not found")
    if args.mock and args.free_ports:
        parser.error("--mock listens where the config expects it (--mock-port); do not combine with --free-ports")

    cluster = Cluster(args)
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        cluster.start()
        if args.state:
            Path(args.state).write_text(json.dumps(cluster.describe(), indent=2))
        cluster.print_endpoints()
        while True:
            time.sleep(1)
            for name, process, _ in cluster.processes:
                if process.poll() is not None and not getattr(process, "_reported", False):
                    process._reported = True
                    print(f"cluster: {name} exited with {process.returncode}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        # Signals during the teardown would cut it short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        cluster.stop()
        print("cluster: stopped", flush=True)


if __name__ == "__main__":
    main()
