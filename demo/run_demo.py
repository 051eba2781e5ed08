#!/usr/bin/env python3
"""`make demo`: the gateway working in a minute, with no provider keys and no network.

Starts mock-provider and the gateway (in-memory store) on free loopback ports with
demo/config.json, sends a plain, a streaming, a few auto-model and two translated (Anthropic, Gemini) requests, prints the answers
and GET /v1/usage, then stops both processes. Standard library only.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("DEMO_BIN", os.path.join(ROOT, ".build", "debug"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url, process, name):
    deadline = time.time() + 30
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"demo: {name} exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    sys.exit(f"demo: {name} did not become healthy at {url}")


def call(method, url, access_key, body=None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Authorization", f"Bearer {access_key}")
    if body:
        request.add_header("Content-Type", "application/json")
    try:
        return urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as error:
        return error


def routed(response):
    h = response.headers
    return (f"[{response.status}] provider={h.get('x-gateway-provider')} model={h.get('x-gateway-model')} "
            f"key={h.get('x-gateway-key-id')} attempts={h.get('x-gateway-attempts')}")


def main():
    with open(os.path.join(ROOT, "demo", "config.json")) as f:
        config = json.load(f)
    mock_port, gateway_port = free_port(), free_port()
    for entry in config["provider_keys"]:
        entry["base_url"] = entry["base_url"].replace("127.0.0.1:18090", f"127.0.0.1:{mock_port}")
    config["server"]["port"] = gateway_port
    workdir = tempfile.mkdtemp(prefix="gateway-demo-")
    config_path = os.path.join(workdir, "config.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    access = config["access_key"]
    base = f"http://127.0.0.1:{gateway_port}"

    log = open(os.path.join(workdir, "log.txt"), "w")
    processes = []
    try:
        mock = subprocess.Popen([os.path.join(BIN, "mock-provider"), "--port", str(mock_port), "--log-level", "warning"],
                                stdout=log, stderr=log)
        processes.append(mock)
        wait_healthy(f"http://127.0.0.1:{mock_port}/_mock/health", mock, "mock-provider")
        gateway = subprocess.Popen([os.path.join(BIN, "gateway"), "--config", config_path, "--log-level", "warning"],
                                   stdout=log, stderr=log)
        processes.append(gateway)
        wait_healthy(f"{base}/health", gateway, "gateway")
        print(f"mock-provider on 127.0.0.1:{mock_port}, gateway on {base} (in-memory store, demo/config.json)\n")

        print("1. Plain chat completion, model demo-large")
        r = call("POST", f"{base}/v1/chat/completions", access,
                 {"model": "demo-large", "messages": [{"role": "user", "content": "Hello, gateway!"}]})
        answer = json.load(r)
        print("  ", routed(r))
        print("   answer:", answer["choices"][0]["message"]["content"], "| usage:", answer["usage"], "\n")

        print("2. Streaming, model demo-small (events printed as they arrive)")
        r = call("POST", f"{base}/v1/chat/completions", access,
                 {"model": "demo-small", "stream": True, "messages": [{"role": "user", "content": "Stream to me."}]})
        print("  ", routed(r))
        print("   answer: ", end="", flush=True)
        for line in r:
            line = line.strip()
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
                print(delta or "", end="", flush=True)
        print("\n")

        print("3. auto-model, three times: demo-large first (its key allows 2 requests a minute), then demo-small")
        for i in range(3):
            r = call("POST", f"{base}/v1/chat/completions", access,
                     {"model": "auto-model", "messages": [{"role": "user", "content": f"Request {i + 1}"}]})
            print("  ", routed(r))
        print()

        print("4. The same OpenAI request to Anthropic's and Gemini's native APIs (translated both ways)")
        for model in ("claude-demo", "gemini-demo"):
            r = call("POST", f"{base}/v1/chat/completions", access,
                     {"model": model, "messages": [{"role": "system", "content": "Be brief."},
                                                   {"role": "user", "content": "Hello from the OpenAI API"}]})
            answer = json.load(r)
            print("  ", routed(r))
            print("   answer:", answer["choices"][0]["message"]["content"], "| usage:", answer["usage"])
        print()

        print("5. A wrong access key")
        r = call("POST", f"{base}/v1/chat/completions", "not-the-key",
                 {"model": "demo-large", "messages": [{"role": "user", "content": "hi"}]})
        print(f"   [{r.status}]", r.read().decode(), "\n")

        print("6. GET /v1/usage")
        print(json.dumps(json.load(call("GET", f"{base}/v1/usage", access)), indent=2))
    finally:
        for p in reversed(processes):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


if __name__ == "__main__":
    main()
