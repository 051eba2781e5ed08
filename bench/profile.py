#!/usr/bin/env python3
"""Profile of the gateway's hot path (issue 10): the release gateway (memory store, as shipped:
request log lines and metrics on) in front of mock-provider under wrk, sampled with
`perf record -e cpu-clock -g` (this VM has no hardware counters), then the share of samples
with each part of the request path on the stack.

    python3 bench/profile.py --bin .build/release [--connections 1] [--seconds 14]

Needs perf (Debian: linux-perf) and wrk. A sample counts for every part on its stack, so the
shares overlap (the middleware is below everything a request does).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_bench import ROOT, free_port, gateway_config, process  # noqa: E402

# (label, substring of a mangled or plain symbol name)
PARTS = [
    ("UpstreamClient (upstream request, pool)", "UpstreamClient"),
    ("UpstreamConnection (upstream connection handler)", "UpstreamConnection"),
    ("NIOSSL (TLS; unused against plain-http mock-provider)", "NIOSSL"),
    ("ChatProxy (the request path)", "ChatProxy"),
    ("ObservabilityMiddleware (request id, metrics, log line)", "ObservabilityMiddleware"),
    ("GatewayLogHandler.log (request line)", "LogHandlerV3log5event"),
    ("swift-prometheus (metric updates)", "Prometheus"),
    ("ChatRequestSummary.parse (routing fields)", "ChatRequestSummary"),
    ("TokenUsage.of (usage of the answer)", "TokenUsage"),
    ("JSONDecoder (anywhere)", "JSONDecoder"),
    ("AccessKeys (access-key check)", "AccessKeys"),
    ("MemoryUsageStore (reserve, settle)", "MemoryUsageStore"),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build", "release"))
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=14)
    args = parser.parse_args()
    for tool, package in (("perf", "linux-perf"), ("wrk", "wrk")):
        if shutil.which(tool) is None:
            sys.exit(f"profile: {tool} is not installed (Debian: apt-get install {package})")

    workdir = tempfile.mkdtemp(prefix="bench-profile-")
    log = open(os.path.join(workdir, "log.txt"), "w")
    mock_port = free_port()
    # The config sits in a directory of its own: perf.data written next to it would wake the
    # config watcher on every write.
    os.makedirs(os.path.join(workdir, "config"))
    config, gateway_port = gateway_config(os.path.join(workdir, "config"), mock_port, None)
    url = f"http://127.0.0.1:{gateway_port}/v1/chat/completions"
    wrk = ["wrk", f"-t{min(2, args.connections)}", f"-c{args.connections}", "--latency",
           "-s", os.path.join(ROOT, "bench", "chat.lua"), url]
    env = {**os.environ, "KEY": "bench-access"}
    data = os.path.join(workdir, "perf.data")
    with process([os.path.join(args.bin, "mock-provider"), "--port", str(mock_port), "--log-level", "warning"],
                 f"http://127.0.0.1:{mock_port}/_mock/health", log), \
            process([os.path.join(args.bin, "gateway"), "--config", config],
                    f"http://127.0.0.1:{gateway_port}/health", log) as gateway:
        subprocess.run(wrk[:1] + ["-d3s"] + wrk[1:], env=env, check=True, capture_output=True)  # warm-up
        perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "2000", "-g", "-p", str(gateway.pid),
                                 "-o", data, "--", "sleep", str(args.seconds)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        out = subprocess.run(wrk[:1] + [f"-d{args.seconds}s"] + wrk[1:], env=env, check=True,
                             capture_output=True, text=True).stdout
        perf.wait()
    script = subprocess.run(["perf", "script", "-i", data], capture_output=True, text=True).stdout
    samples = [s for s in script.split("\n\n") if s.strip()]
    requests = next((line.split()[0] for line in out.splitlines() if "requests in" in line), "?")
    print(f"{len(samples)} samples, {requests} requests at concurrency {args.connections} in {args.seconds} s")
    for label, pattern in PARTS:
        share = sum(1 for s in samples if pattern in s) / max(1, len(samples))
        print(f"{100 * share:5.1f} %  {label}")
    log.close()
    subprocess.run(["rm", "-rf", workdir])


if __name__ == "__main__":
    main()
