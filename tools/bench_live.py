#!/usr/bin/env python3
"""What the overview snapshot and the live stream cost the server, against the
release binary (`cargo build --release -p server --bin cellguard` first).

Starts `target/release/cellguard serve` on a free port with a fresh data directory
(the embedded simulated line) and measures, from the server's own CPU time in
/proc (its idle CPU over the same time subtracted):

- POST /api/fn/line: server CPU per request over N requests on keep-alive
  connections from several threads;
- the overview stream (gzip): bytes per second one tablet receives;
- S concurrent overview streams: server CPU over 30 s, every stream's byte count,
  and the age of the value events (now minus their scan time) on a sample of them.

Run from the workspace root: `python3 tools/bench_live.py [N] [S]`.
"""
import http.client
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib

PASSWORD = "bench admin password"
HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def sign_in(port):
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("POST", "/api/v1/session", json.dumps({"username": "admin", "password": PASSWORD}),
              {"content-type": "application/json"})
    r = c.getresponse()
    r.read()
    return r.getheader("set-cookie").split(";")[0]


def idle_cpu(pid, seconds):
    a = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - a) / seconds


def line_requests(port, cookie, n, threads):
    def worker(k, out):
        c = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(k):
            c.request("POST", "/api/fn/line", b"", {"cookie": cookie,
                      "content-type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            body = r.read()
            assert r.status == 200, (r.status, body[:200])
            out.append(len(body))
    out = []
    ts = [threading.Thread(target=worker, args=(n // threads, out)) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def open_stream(port, cookie):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall((f"GET /api/v1/live?view=overview HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
               "Accept-Encoding: gzip\r\nAccept: text/event-stream\r\n\r\n").encode())
    s.setblocking(False)
    return s


class Decoder:
    """Chunked transfer + gzip + SSE frames -> value event ages (ms)."""

    def __init__(self):
        self.raw = b""
        self.headers_done = False
        self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.text = ""
        self.ages = []

    def feed(self, data):
        self.raw += data
        if not self.headers_done:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return
            self.raw = self.raw[end + 4:]
            self.headers_done = True
        while True:
            line_end = self.raw.find(b"\r\n")
            if line_end < 0:
                return
            size = int(self.raw[:line_end].split(b";")[0], 16)
            if len(self.raw) < line_end + 2 + size + 2:
                return
            chunk = self.raw[line_end + 2:line_end + 2 + size]
            self.raw = self.raw[line_end + 2 + size + 2:]
            self.text += self.z.decompress(chunk).decode()
            now = time.time() * 1000
            while "\n\n" in self.text:
                frame, self.text = self.text.split("\n\n", 1)
                if frame.startswith("data: "):
                    ev = json.loads(frame[6:])
                    if ev.get("kind") == "values":
                        self.ages.append(now - ev["ts_ms"])


def streams(port, cookie, pid, count, seconds, sampled):
    socks = []
    for i in range(count):
        socks.append(open_stream(port, cookie))
    sel = selectors.DefaultSelector()
    counts = {}
    decoders = {}
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, i)
        counts[i] = 0
        if i < sampled:
            decoders[i] = Decoder()
    # Let every stream get its snapshot before measuring.
    warm_end = time.time() + 5
    while time.time() < warm_end:
        for key, _ in sel.select(timeout=0.1):
            data = key.fileobj.recv(65536)
            if key.data in decoders:
                decoders[key.data].feed(data)
    for d in decoders.values():
        d.ages.clear()
    cpu0 = cpu_seconds(pid)
    end = time.time() + seconds
    while time.time() < end:
        for key, _ in sel.select(timeout=0.1):
            data = key.fileobj.recv(65536)
            counts[key.data] += len(data)
            if key.data in decoders:
                decoders[key.data].feed(data)
    cpu = (cpu_seconds(pid) - cpu0) / seconds
    for s in socks:
        s.close()
    ages = sorted(a for d in decoders.values() for a in d.ages)
    return cpu, counts, ages


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    port = free_port()
    data = tempfile.mkdtemp(prefix="cellguard-bench-live-")
    env = dict(os.environ, LEPTOS_SITE_ADDR=f"127.0.0.1:{port}", RUST_LOG="warn",
               CELLGUARD_ADMIN_PASSWORD=PASSWORD)
    server = subprocess.Popen(["./target/release/cellguard", "serve", "--data-dir", data],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(5)
        cookie = sign_in(port)
        idle = idle_cpu(server.pid, 10)
        print(f"idle server (acquisition, history, simulators): {idle * 100:.1f} % of a core")

        t = time.time()
        c0 = cpu_seconds(server.pid)
        sizes = line_requests(port, cookie, n, 8)
        wall = time.time() - t
        cpu = cpu_seconds(server.pid) - c0 - idle * wall
        print(f"POST /api/fn/line: {len(sizes)} requests in {wall:.1f} s ({len(sizes) / wall:.0f}/s), "
              f"server CPU {cpu / len(sizes) * 1000:.3f} ms per request (idle subtracted), "
              f"{statistics.median(sizes)} bytes each")

        cpu1, counts1, ages1 = streams(port, cookie, server.pid, 1, 30, 1)
        print(f"one overview stream (gzip): {counts1[0] / 30:.0f} bytes/s; "
              f"value events {len(ages1)} in 30 s, age p50 {statistics.median(ages1):.0f} ms")

        cpu, counts, ages = streams(port, cookie, server.pid, count, 30, 50)
        quiet = sum(1 for v in counts.values() if v == 0)
        print(f"{count} overview streams: server CPU {(cpu - idle) * 100:.1f} % of a core "
              f"above idle ({cpu * 100:.1f} % in all); bytes/s per stream median "
              f"{statistics.median(counts.values()) / 30:.0f}, streams that received nothing: {quiet}; "
              f"event age on 50 of them: p50 {ages[len(ages) // 2]:.0f} ms, "
              f"p99 {ages[int(len(ages) * 0.99) - 1]:.0f} ms ({len(ages)} events)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
