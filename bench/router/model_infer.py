#!/usr/bin/env python3
"""Router benchmark with a real ML call (issue 5 §7, alongside bench/router/run.py):
the same unary ModelInfer load straight to one model_execution_shim and through
shimkit_router to a set of model_execution_shim replicas, in one run on this
machine. bench/router/run.py measures the router in front of an echo service,
which does no work, so there it weighs a hop against nothing; this one weighs
it against a small real inference (the XGBoost heart_scale model of
bench/model_infer/run.py, one row of 13 features).

    .venv/bin/python bench/router/model_infer.py --build build [--replicas 3] [--duration 10]

Steps: train the booster with me_xgb_train, register it in a
model_repository_shim (fs), start one model_execution_shim preloading it
(direct), then N replicas behind shimkit_router (routed), on loopback ports
and again on unix sockets ("unix:PATH" backends); check the prediction
through each path; load each with h2load (one connection, 1 and 50 streams,
the same serialized ModelInferRequest). h2load counts HTTP answers only, so
after every run the servers' own /metrics are read and any ModelInfer call that
did not end OK is reported as failed. Writes bench/results/router_model_infer
.json and .md. The issue's targets (ratio >= 0.7, added p50 <= 0.3 ms) are
reported, never asserted.
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import report  # noqa: E402  (bench/router/report.py: summary and tables)
import run as echo_bench  # noqa: E402  (bench/run.py: h2load, ratio, STREAMS)

_spec = importlib.util.spec_from_file_location("mi_bench", os.path.join(ROOT, "bench", "model_infer", "run.py"))
mi_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mi_bench)  # bench/model_infer/run.py: the model, the repository, readiness, requests

PATH = "/inference.GRPCInferenceService/ModelInfer"


def log(msg):
    print(f"bench-router-infer: {msg}", flush=True)


def not_ok_calls(metrics_addrs):
    """ModelInfer calls that ended with a status other than OK, summed over the servers' /metrics."""
    total = 0
    for addr in metrics_addrs:
        text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=10).read().decode()
        for m in re.finditer(r'shimkit_calls_handled_total\{method="([^"]+)",code="([A-Z_]+)"\} (\d+)', text):
            if m.group(1) == PATH and m.group(2) != "OK":
                total += int(m.group(3))
    return total


def measure(name, port, body, args, work, metrics_addrs, pids):
    """h2load at each stream count; pids: {"router": [...], "replicas": [...]}, whose CPU per call is recorded."""
    runs = {}
    for streams in echo_bench.STREAMS:
        before = not_ok_calls(metrics_addrs)
        ticks = {g: sum(report.cpu_ticks(p) for p in ps) for g, ps in pids.items() if ps}
        r = echo_bench.h2load(port, streams, body, args.duration, args.warmup, work, f"{name}-{streams}", PATH)
        r["grpc_not_ok"] = not_ok_calls(metrics_addrs) - before
        calls = r["succeeded"] + r["failed"] + round(r["req_per_s"] * args.warmup)
        r["cpu_us_per_call"] = {g: report.cpu_us_per_call(t, sum(report.cpu_ticks(p) for p in pids[g]), calls)
                                for g, t in ticks.items()}
        runs[str(streams)] = r
        log(f"{name}: {streams:>2} stream(s): {r['req_per_s']:>8.0f} req/s  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  "
            f"({r['succeeded']} answered, {r['failed']} failed, {r['grpc_not_ok']} not OK)  "
            f"CPU/call {r['cpu_us_per_call']}")
    return runs


def start_execution(procs, args, me_shim, repo, work, name, unix=False):
    """A model_execution_shim preloading the model, on a loopback port or (unix) a unix socket:
    (its address, its metrics address, its process)."""
    metrics = f"127.0.0.1:{mi_bench.free_port()}"
    target = mi_bench.start_shim(procs, name, [me_shim, "--model-repository", repo, "--preload", mi_bench.MODEL,
                                               "--tmp-dir", work, "--metrics-listen", metrics],
                                 os.path.join(work, f"{name}.log"),
                                 listen=f"unix:{work}/{name}.sock" if unix else "127.0.0.1:0")
    return target, metrics, procs.procs[-1][1]


def routed(key, unix, procs, args, paths, repo, work, pb, body, want):
    """The router in front of args.replicas new replicas (catch-all set, round robin), on loopback ports
    or (unix) unix sockets, each prediction checked through it: its runs. The replicas stop after."""
    me_shim, router_bin = paths
    first = len(procs.procs)
    reps = [start_execution(procs, args, me_shim, repo, work, f"{key}{i}", unix) for i in range(args.replicas)]
    for t, _, p in reps:
        if not mi_bench.wait_ready(pb, t, t, p):
            sys.exit(f"bench-router-infer: replica {t} did not get the model ready")
    router = echo_bench.Server("router", [router_bin, "--listen", "127.0.0.1:0", "--workers",
                                          str(args.router_workers), "--no-access-log",
                                          *[a for t, _, _ in reps for a in ("--backend", t)]], work).start()
    try:
        rtarget = f"127.0.0.1:{router.port}"
        deadline = time.monotonic() + 30
        served = 0
        while served < 3 * args.replicas and time.monotonic() < deadline:
            try:
                if check_prediction(pb, rtarget) != want:
                    sys.exit("bench-router-infer: the routed prediction differs from the direct one")
                served += 1
            except SystemExit:
                raise
            except Exception:  # replicas not yet SERVING in the router's eyes
                time.sleep(0.1)
        if served < 3 * args.replicas:
            sys.exit("bench-router-infer: the router did not answer ModelInfer within 30 s")
        log(f"router on {rtarget} in front of {[t for t, _, _ in reps]}; predictions agree")
        time.sleep(1.0)
        return {"replicas": args.replicas, "replica_sockets": "unix" if unix else "tcp",
                "runs": measure(key, router.port, body, args, work, [m for _, m, _ in reps],
                                {"router": [router.proc.pid], "replicas": [p.pid for _, _, p in reps]})}
    finally:
        router.stop()
        for _, _, p in reps:
            if p.poll() is None:
                os.killpg(p.pid, 15)
                p.wait(20)
        del procs.procs[first:]


def check_prediction(pb, target):
    import grpc

    pb2, pbg = pb["inference.grpc_predict_v2_pb2"], pb["inference.grpc_predict_v2_pb2_grpc"]
    with grpc.insecure_channel(target) as ch:
        resp = pbg.GRPCInferenceServiceStub(ch).ModelInfer(
            mi_bench.infer_request(pb2, [mi_bench.load_heart_scale()[0][1]], "FP32", ("probability",)), timeout=10)
    return mi_bench.values(resp, "probability")[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--replicas", type=int, default=3, help="model_execution replicas behind the router")
    ap.add_argument("--router-workers", type=int, default=64, help="worker threads of the router")
    ap.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each measurement")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    tool = lambda *p: os.path.join(build, *p)  # noqa: E731
    xgb_train = tool("services", "model_execution", "me_xgb_train")
    repo_shim = tool("services", "model_repository", "model_repository_shim")
    me_shim = tool("services", "model_execution", "model_execution_shim")
    router_bin = tool("runtime", "router", "shimkit_router")
    for p in (xgb_train, repo_shim, me_shim, router_bin):
        if not os.access(p, os.X_OK):
            sys.exit(f"bench-router-infer: missing {p} (build first: scripts/build.sh)")
    if shutil.which("h2load") is None:
        sys.exit("bench-router-infer: h2load missing (apt-get install nghttp2-client)")

    work = tempfile.mkdtemp(prefix="shimkit-bench-router-infer.")
    procs = mi_bench.Procs()
    results = {}
    try:
        pb = mi_bench.stubs(os.path.join(work, "stubs"))
        pb2 = pb["inference.grpc_predict_v2_pb2"]
        heart = mi_bench.load_heart_scale()
        model = os.path.join(work, "model.json")
        subprocess.run([xgb_train, mi_bench.HEART_SCALE, str(mi_bench.N_FEATURES), str(len(heart)), model],
                       check=True, timeout=120, stdout=subprocess.DEVNULL)
        repo = mi_bench.start_shim(procs, "model_repository_shim",
                                   [repo_shim, "--backend", "fs", "--data-dir", os.path.join(work, "repo")],
                                   os.path.join(work, "repo.log"))
        mi_bench.register(pb, repo, model)
        body = os.path.join(work, "infer.bin")
        msg = mi_bench.infer_request(pb2, [heart[0][1]], "FP32").SerializeToString()
        with open(body, "wb") as f:
            f.write(b"\x00" + len(msg).to_bytes(4, "big") + msg)

        # Direct: one replica.
        target, metrics, proc = start_execution(procs, args, me_shim, repo, work, "direct")
        if not mi_bench.wait_ready(pb, target, "direct", proc):
            sys.exit("bench-router-infer: the direct replica did not get the model ready")
        want = check_prediction(pb, target)
        time.sleep(1.0)
        results["direct"] = {"replicas": 1, "runs": measure("direct", int(target.rsplit(":", 1)[1]), body, args,
                                                            work, [metrics], {"replicas": [proc.pid]})}
        os.killpg(proc.pid, 15)
        proc.wait(20)

        # Routed: the router in front of N replicas on loopback ports, then on unix sockets.
        for key, unix in (("router", False), ("router_unix", True)):
            results[key] = routed(key, unix, procs, args, (me_shim, router_bin), repo, work, pb, body, want)
    finally:
        procs.stop()
        shutil.rmtree(work, ignore_errors=True)

    summary = {k: report.summarize(results, echo_bench.STREAMS, k) for k in ("router", "router_unix")}
    doc = {
        "benchmark": "unary ModelInfer (XGBoost, 1 row x 13 FP32): direct to one model_execution_shim vs through "
                     "shimkit_router",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "load": {"tool": subprocess.run(["h2load", "--version"], capture_output=True, text=True).stdout.strip(),
                 "connections": 1, "streams": list(echo_bench.STREAMS), "duration_s": args.duration,
                 "warmup_s": args.warmup, "request_bytes": len(msg)},
        "results": results, "summary": summary,
        "targets": {"ratio": f">= {report.TARGET_RATIO}", "added_p50_ms": f"<= {report.TARGET_ADDED_P50_MS}"},
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "router_model_infer.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "router_model_infer.md"), "w") as f:
        f.write(markdown(doc))
    log(f"wrote {os.path.relpath(os.path.join(args.out, 'router_model_infer.md'), ROOT)} and .json")
    print(markdown(doc))


def markdown(doc):
    res, summ = doc["results"], doc["summary"]
    n = res["router"]["replicas"]
    lines = [f"# Router benchmark with a real ML call ({doc['date']})", "",
             f"{doc['load']['tool']}, 1 connection, {doc['load']['duration_s']} s per run after "
             f"{doc['load']['warmup_s']} s warm-up, unary ModelInfer of the XGBoost heart_scale model "
             f"({doc['load']['request_bytes']}-byte request, one row of 13 FP32 features); {doc['machine']['cpus']} "
             f"CPUs shared by h2load, the router and {n} model_execution_shim replicas (direct: 1 replica). "
             "Failed = h2load errors plus calls the servers' /metrics count as not OK. The echo-service "
             "figures (a hop against no work at all) are in router.md. Raw figures: router_model_infer.json.", ""]
    labels = {"direct": "direct to one model_execution_shim", "router": f"shimkit_router -> {n} replicas",
              "router_unix": f"shimkit_router -> {n} replicas on unix sockets"}
    lines += report.tables(res, summ, labels, failed=lambda r: r["failed"] + r["grpc_not_ok"],
                           judged=["router", "router_unix"])
    return "\n".join(lines)


if __name__ == "__main__":
    main()
