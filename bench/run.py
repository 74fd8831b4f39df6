#!/usr/bin/env python3
"""Unary echo benchmark: echo_shim against gRPC C++, grpc-go and Python grpcio
servers of the same service, in one run on this machine, loaded by h2load.

    .venv/bin/python bench/run.py --shim build/services/echo/echo_shim \
        --cpp build-bench/cpp/echo_server_cpp --go build-bench/go/echo_server_go

For each server: start it on a free loopback port, check one real Say call
with grpcio, read its idle RSS (VmRSS), then run h2load on one connection at
1 stream and at 50 concurrent streams for --duration seconds each (after a
warm-up), with a 5-byte gRPC frame prefix + serialized EchoRequest as the
body, content-type application/grpc and te: trailers. Latency percentiles
come from h2load's per-request log. Writes bench/results/echo_unary.json and
echo_unary.md. The targets of the issue are reported, never asserted.
"""
import argparse
import datetime
import importlib
import json
import os
import platform
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PROTO_DIR = os.path.join(ROOT, "proto", "examples")
MESSAGE = "hello shimkit"
STREAMS = (1, 50)

# The targets (reported, not asserted).
TARGET_VS_FASTEST_PEER = 0.9
TARGET_VS_PYTHON = 5.0
TARGET_IDLE_RSS_MB = 15.0


def log(msg):
    print(f"bench: {msg}", flush=True)


def grpc_frame():
    """EchoRequest{message: MESSAGE} in a gRPC length-prefixed frame (uncompressed)."""
    data = MESSAGE.encode()
    payload = b"\x0a" + bytes([len(data)]) + data  # field 1, wire type 2
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def stubs(tmp):
    from grpc_tools import protoc
    import grpc_tools

    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"-I{wkt}", f"--python_out={tmp}",
                      f"--grpc_python_out={tmp}", os.path.join(PROTO_DIR, "echo.proto")])
    if rc:
        sys.exit("bench: grpc_tools.protoc failed on echo.proto")
    sys.path.insert(0, tmp)
    return importlib.import_module("echo_pb2"), importlib.import_module("echo_pb2_grpc")


class Server:
    def __init__(self, name, argv, workdir):
        self.name, self.argv = name, argv
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.proc = None
        self.port = None
        listen = argv[argv.index("--listen") + 1] if "--listen" in argv else ""
        self.unix = listen if listen.startswith("unix:") else None  # "unix:PATH": no port

    @property
    def address(self):
        """Where it listens: "127.0.0.1:PORT", or "unix:PATH"."""
        return self.unix or f"127.0.0.1:{self.port}"

    def start(self, timeout=60):
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with open(self.log_path) as f:
                text = f.read()
            if self.unix and f"listening on {self.unix} " in text:
                return self
            m = None if self.unix else re.search(r"listening on (\S+?):(\d+)\b", text)
            if m:
                self.port = int(m.group(2))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        sys.exit(f"bench: {self.name} did not start; its log:\n{open(self.log_path).read()}")

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def threads(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.logf.close()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def check_say(target, pb2, pb2_grpc):
    import grpc

    with grpc.insecure_channel(target) as ch:
        grpc.channel_ready_future(ch).result(timeout=20)
        reply = pb2_grpc.EchoStub(ch).Say(pb2.EchoRequest(message=MESSAGE), timeout=10)
    if reply.message != MESSAGE:
        sys.exit(f"bench: {target} answered {reply.message!r}, not {MESSAGE!r}")
    return reply.served_by


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def h2load(port, streams, body_path, duration, warmup, workdir, tag, path="/shimkit.examples.v1.Echo/Say"):
    log_path = os.path.join(workdir, f"h2load-{tag}.tsv")
    argv = ["h2load", "-c", "1", "-t", "1", "-m", str(streams), "-D", str(duration),
            "--warm-up-time", str(warmup), "-d", body_path,
            "-H", "content-type: application/grpc", "-H", "te: trailers",
            "--log-file", log_path, f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + warmup + 60)
    text = out.stdout + out.stderr
    m = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", text)
    reqs = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                     r"(\d+) errored, (\d+) timeout", text)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if out.returncode != 0 or not m or not reqs:
        sys.exit(f"bench: h2load failed ({out.returncode}):\n{text}")
    lat = []
    with open(log_path) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1] == "200":
                lat.append(int(parts[2]))
    lat.sort()
    os.unlink(log_path)
    return {
        "streams": streams,
        "req_per_s": float(m.group(1)),
        "requests_done": int(reqs.group(3)),
        "succeeded": int(reqs.group(4)),
        "failed": int(reqs.group(5)) + int(reqs.group(6)) + int(reqs.group(7)),
        "http_2xx": int(codes.group(1)) if codes else None,
        "p50_ms": round(percentile(lat, 50) / 1000.0, 3) if lat else None,
        "p99_ms": round(percentile(lat, 99) / 1000.0, 3) if lat else None,
        "mean_ms": round(statistics.fmean(lat) / 1000.0, 3) if lat else None,
    }


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shim", default=os.path.join(ROOT, "build", "services", "echo", "echo_shim"))
    ap.add_argument("--cpp", default=os.path.join(ROOT, "build-bench", "cpp", "echo_server_cpp"))
    ap.add_argument("--go", default=os.path.join(ROOT, "build-bench", "go", "echo_server_go"))
    ap.add_argument("--python-server", default=os.path.join(ROOT, "bench", "peers", "python", "echo_server.py"))
    ap.add_argument("--workers", type=int, default=16, help="worker threads of each server (for the shim: the most its elastic pool grows to)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each measurement")
    ap.add_argument("--only", action="append", help="run only these servers (shim, cpp, go, python)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="shimkit-bench-")
    pb2, pb2_grpc = stubs(workdir)
    body = os.path.join(workdir, "say.bin")
    with open(body, "wb") as f:
        f.write(grpc_frame())

    listen = ["--listen", "127.0.0.1:0"]
    servers = [
        ("shim", [args.shim, *listen, "--name", "shim", "--workers", str(args.workers), "--no-access-log"]),
        ("cpp", [args.cpp, *listen, "--name", "cpp", "--workers", str(args.workers)]),
        ("go", [args.go, *listen, "--name", "go"]),
        ("python", [sys.executable, args.python_server, *listen, "--name", "python",
                    "--workers", str(args.workers), "--no-health-reflection"]),
    ]
    if args.only:
        servers = [s for s in servers if s[0] in args.only]

    results = {}
    for name, argv in servers:
        if not os.path.exists(argv[0]) or (name == "python" and not os.path.exists(args.python_server)):
            log(f"{name}: {argv[0] if name != 'python' else args.python_server} is missing, skipped")
            continue
        log(f"{name}: starting {' '.join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in argv)}")
        srv = Server(name, argv, workdir).start()
        try:
            served_by = check_say(f"127.0.0.1:{srv.port}", pb2, pb2_grpc)
            time.sleep(1.0)
            idle_rss = srv.rss_kb()
            entry = {"served_by": served_by, "idle_rss_kb": idle_rss, "threads_idle": srv.threads(), "runs": {}}
            for streams in STREAMS:
                r = h2load(srv.port, streams, body, args.duration, args.warmup, workdir, f"{name}-{streams}")
                r["rss_after_kb"] = srv.rss_kb()
                entry["runs"][str(streams)] = r
                log(f"{name}: {streams:>2} stream(s): {r['req_per_s']:>9.0f} req/s  p50 {r['p50_ms']} ms  "
                    f"p99 {r['p99_ms']} ms  ({r['succeeded']} ok, {r['failed']} failed)")
            results[name] = entry
        finally:
            srv.stop()

    def rps(name, streams):
        return results.get(name, {}).get("runs", {}).get(str(streams), {}).get("req_per_s")

    fastest_peer = max(("cpp", "go"), key=lambda n: rps(n, 50) or 0)
    summary = {
        "fastest_of_cpp_go_at_50": fastest_peer if rps(fastest_peer, 50) else None,
        "shim_vs_fastest_cpp_go_at_50": ratio(rps("shim", 50), rps(fastest_peer, 50)),
        "shim_vs_cpp_at_50": ratio(rps("shim", 50), rps("cpp", 50)),
        "shim_vs_go_at_50": ratio(rps("shim", 50), rps("go", 50)),
        "shim_vs_python_at_50": ratio(rps("shim", 50), rps("python", 50)),
        "shim_vs_python_at_1": ratio(rps("shim", 1), rps("python", 1)),
        "shim_idle_rss_mb": round(results["shim"]["idle_rss_kb"] / 1024.0, 1) if "shim" in results else None,
    }
    targets = {
        "shim_vs_fastest_cpp_go_at_50": {"target": f">= {TARGET_VS_FASTEST_PEER}",
                                         "met": (summary["shim_vs_fastest_cpp_go_at_50"] or 0) >= TARGET_VS_FASTEST_PEER},
        "shim_vs_python_at_50": {"target": f">= {TARGET_VS_PYTHON}",
                                 "met": (summary["shim_vs_python_at_50"] or 0) >= TARGET_VS_PYTHON},
        "shim_idle_rss_mb": {"target": f"<= {TARGET_IDLE_RSS_MB}",
                             "met": summary["shim_idle_rss_mb"] is not None
                             and summary["shim_idle_rss_mb"] <= TARGET_IDLE_RSS_MB},
    }
    doc = {
        "benchmark": "unary Say, small payload",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()},
        "load": {"tool": subprocess.run(["h2load", "--version"], capture_output=True, text=True).stdout.strip(),
                 "connections": 1, "streams": list(STREAMS), "duration_s": args.duration,
                 "warmup_s": args.warmup, "request_bytes": len(grpc_frame()) - 5, "message": MESSAGE},
        "servers": results,
        "summary": summary,
        "targets": targets,
    }
    os.makedirs(args.out, exist_ok=True)
    jpath = os.path.join(args.out, "echo_unary.json")
    with open(jpath, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    mpath = os.path.join(args.out, "echo_unary.md")
    with open(mpath, "w") as f:
        f.write(markdown(doc))
    log(f"wrote {os.path.relpath(jpath, ROOT)} and {os.path.relpath(mpath, ROOT)}")
    print()
    print(markdown(doc))


def markdown(doc):
    labels = {"shim": "shimkit echo_shim (C core)", "cpp": "gRPC C++ (callback API)", "go": "grpc-go",
              "python": "Python grpcio"}
    ld = doc["load"]
    lines = [
        f"# Unary echo benchmark ({doc['date']})",
        "",
        f"{ld['tool']}, {ld['connections']} connection, {ld['duration_s']} s per run after {ld['warmup_s']} s "
        f"warm-up, request {ld['request_bytes']} bytes; {doc['machine']['cpus']} CPUs shared by client and server.",
        "",
        "| server | streams | req/s | p50 ms | p99 ms | failed | idle RSS MB | threads idle |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, e in doc["servers"].items():
        for s, r in e["runs"].items():
            lines.append(f"| {labels.get(name, name)} | {s} | {r['req_per_s']:.0f} | {r['p50_ms']} | {r['p99_ms']} | "
                         f"{r['failed']} | {e['idle_rss_kb'] / 1024:.1f} | {e['threads_idle']} |")
    s, t = doc["summary"], doc["targets"]
    yes = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    lines += [
        "",
        "| ratio | value | target |",
        "|---|---:|---|",
        f"| shim / faster of C++ and Go ({s['fastest_of_cpp_go_at_50']}), 50 streams | "
        f"{s['shim_vs_fastest_cpp_go_at_50']} | {t['shim_vs_fastest_cpp_go_at_50']['target']} "
        f"({yes(t['shim_vs_fastest_cpp_go_at_50']['met'])}) |",
        f"| shim / C++, 50 streams | {s['shim_vs_cpp_at_50']} | |",
        f"| shim / Go, 50 streams | {s['shim_vs_go_at_50']} | |",
        f"| shim / Python, 50 streams | {s['shim_vs_python_at_50']} | {t['shim_vs_python_at_50']['target']} "
        f"({yes(t['shim_vs_python_at_50']['met'])}) |",
        f"| shim / Python, 1 stream | {s['shim_vs_python_at_1']} | |",
        f"| shim idle RSS (MB) | {s['shim_idle_rss_mb']} | {t['shim_idle_rss_mb']['target']} "
        f"({yes(t['shim_idle_rss_mb']['met'])}) |",
        "",
        "Absolute numbers are noisy on a shared 2-CPU machine; compare within one run only.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
