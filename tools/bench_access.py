#!/usr/bin/env python3
"""What signing in and the access layer cost, against the release binary.

Starts `target/release/cellguard serve` on a free port with a fresh data
directory and a first admin, then measures: a sign-in (Argon2id verify plus a new
session row), a request without a session (/healthz), a request that loads the
session and user (/api/fn/me), and one that also checks a permission and does
real work (/api/fn/models). Medians and p99 over repeated requests; run from the
workspace root: `python3 tools/bench_access.py`.
"""
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

PASSWORD = "bench admin password"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="cellguard-bench-access-")
    env = dict(os.environ, LEPTOS_SITE_ADDR=f"127.0.0.1:{port}", RUST_LOG="warn",
               CELLGUARD_ADMIN_PASSWORD=PASSWORD)
    server = subprocess.Popen(["./target/release/cellguard", "serve", "--data-dir", data],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)

        def sign_in():
            req = urllib.request.Request(
                base + "/api/v1/session",
                data=json.dumps({"username": "admin", "password": PASSWORD}).encode(),
                headers={"content-type": "application/json"})
            t = time.perf_counter()
            r = urllib.request.urlopen(req)
            return (time.perf_counter() - t) * 1000, r.headers["set-cookie"].split(";")[0]

        # Eight sign-ins stay inside the throttle's burst of ten per name.
        times, cookie = [], None
        for _ in range(8):
            dt, cookie = sign_in()
            times.append(dt)
        print(f"sign-in: median {statistics.median(times):.1f} ms, max {max(times):.1f} ms (8 runs)")

        def timed(path, method, cookie=None, n=300):
            out = []
            for _ in range(n):
                req = urllib.request.Request(base + path, data=b"" if method == "POST" else None,
                                             headers={"cookie": cookie} if cookie else {},
                                             method=method)
                t = time.perf_counter()
                urllib.request.urlopen(req).read()
                out.append((time.perf_counter() - t) * 1000)
            out.sort()
            return statistics.median(out), out[int(len(out) * 0.99) - 1]

        for label, path, method, c in [
            ("GET /healthz, no session", "/healthz", "GET", None),
            ("POST /api/fn/me, session and user loaded", "/api/fn/me", "POST", cookie),
            ("POST /api/fn/models, plus permission check and work", "/api/fn/models", "POST", cookie),
        ]:
            med, p99 = timed(path, method, c)
            print(f"{label}: median {med:.2f} ms, p99 {p99:.2f} ms (300 requests)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
