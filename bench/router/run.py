#!/usr/bin/env python3
"""Router benchmark (issue 5 §7, first part): the same unary echo load straight
to one echo_shim replica and through shimkit_router to a set of replicas, in
one run on this machine, loaded by h2load exactly as bench/run.py loads the
echo servers (one connection, 1 and 50 concurrent streams, a 5-byte gRPC
frame prefix + serialized EchoRequest as the body).

    .venv/bin/python bench/router/run.py --shim build/services/echo/echo_shim \
        --router build/runtime/router/shimkit_router [--replicas 3] [--duration 10]

Reports req/s and p50/p99 for both, the throughput ratio (routed / direct)
and the p50 latency the router adds, against the issue's targets (ratio >=
0.7, added p50 <= 0.3 ms): reported, never asserted; judged for the set of
--replicas on loopback ports, the same set on unix sockets ("unix:PATH"
backends: the client still reaches the router over TCP), and a set of 2
(one replica per CPU on the 2-CPU machines this runs on), all measured in
the same run. Two more routed runs show where the CPU goes: the router in
front of one replica (the router's own cost, with the replica as loaded as
the direct one), and the router with --no-relay (every call through gRPC
core, the path before the relay). Each run also records the CPU (user +
system) each process spent per call, from /proc. Last, --rounds interleaved
rounds of 50-stream runs (direct, routed to loopback ports, routed to unix
sockets, seconds apart) give a ratio each; their medians are judged too, as
this VM's speed drifts between runs minutes apart. Writes
bench/results/router.json and router.md.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import report  # noqa: E402  (bench/router/report.py: summary and tables)
import run as echo_bench  # noqa: E402  (bench/run.py: Server, h2load, grpc_frame, stubs)


def log(msg):
    print(f"bench-router: {msg}", flush=True)


def measure(name, port, body, args, workdir, procs):
    """h2load at each stream count; CPU per call by group: the router, and the replicas together."""
    runs = {}
    for streams in echo_bench.STREAMS:
        groups = {"router": [p for p in procs if p.name == "router"],
                  "replicas": [p for p in procs if p.name != "router"]}
        before = {g: sum(report.cpu_ticks(p.proc.pid) for p in ps) for g, ps in groups.items() if ps}
        r = echo_bench.h2load(port, streams, body, args.duration, args.warmup, workdir, f"{name}-{streams}")
        after = {g: sum(report.cpu_ticks(p.proc.pid) for p in groups[g]) for g in before}
        # The warm-up's calls are not in h2load's count: spread the CPU over every call made.
        calls = r["succeeded"] + r["failed"] + round(r["req_per_s"] * args.warmup)
        r["cpu_us_per_call"] = {g: report.cpu_us_per_call(before[g], after[g], calls) for g in before}
        r["rss_kb"] = {p.name: p.rss_kb() for p in procs}
        runs[str(streams)] = r
        log(f"{name}: {streams:>2} stream(s): {r['req_per_s']:>9.0f} req/s  p50 {r['p50_ms']} ms  "
            f"p99 {r['p99_ms']} ms  ({r['succeeded']} ok, {r['failed']} failed)  CPU/call {r['cpu_us_per_call']}")
    return runs


def start_cluster(n_replicas, extra, echo, args, pb2, pb2_grpc, workdir, unix=False):
    """The router (with extra flags) in front of n_replicas new echo replicas (on unix sockets with
    unix, else on loopback ports), each seen to answer through it: (router, replicas)."""
    reps = [echo(f"{'u' if unix else 'r'}{i}", unix).start() for i in range(n_replicas)]
    argv = [args.router, "--listen", "127.0.0.1:0", "--workers", str(args.router_workers), "--no-access-log",
            *extra]
    for s in reps:
        argv += ["--backend", s.address]
    router = echo_bench.Server("router", argv, workdir).start()
    seen = set()
    deadline = time.monotonic() + 20
    while len(seen) < n_replicas and time.monotonic() < deadline:
        try:
            seen.add(echo_bench.check_say(f"127.0.0.1:{router.port}", pb2, pb2_grpc))
        except Exception:  # a replica not yet SERVING in the router's eyes
            time.sleep(0.1)
    if len(seen) < n_replicas:
        stop_all([router, *reps])
        sys.exit(f"bench-router: the router reached only {sorted(seen)}")
    time.sleep(1.0)
    return router, reps


def stop_all(procs):
    for p in procs:
        p.stop()


def routed(key, n_replicas, extra, echo, args, pb2, pb2_grpc, body, workdir, unix=False):
    """The router (with extra flags) in front of n_replicas new echo replicas: its runs."""
    router, reps = start_cluster(n_replicas, extra, echo, args, pb2, pb2_grpc, workdir, unix)
    try:
        return {"replicas": n_replicas, "flags": extra, "replica_sockets": "unix" if unix else "tcp",
                "idle_rss_kb": router.rss_kb(),
                "runs": measure(key, router.port, body, args, workdir, [router, *reps])}
    finally:
        stop_all([router, *reps])


def interleaved(echo, args, pb2, pb2_grpc, body, workdir):
    """Direct, routed to --replicas on loopback ports and routed to --replicas on unix sockets, at 50
    streams, one after the other, args.rounds times (the order turning each round), all processes up
    the whole time: on a machine whose speed drifts from minute to minute, each round's ratios compare
    runs seconds apart, and the median of the rounds is judged for each."""
    direct = echo("direct").start()
    router, reps = start_cluster(args.replicas, [], echo, args, pb2, pb2_grpc, workdir)
    router_u, reps_u = start_cluster(args.replicas, [], echo, args, pb2, pb2_grpc, workdir, unix=True)
    rounds = []
    try:
        echo_bench.check_say(f"127.0.0.1:{direct.port}", pb2, pb2_grpc)
        order = [("direct", direct.port), ("routed", router.port), ("routed_unix", router_u.port)]
        for i in range(args.rounds):
            got = {}
            for name, port in order[i % 3:] + order[:i % 3]:
                r = echo_bench.h2load(port, 50, body, args.round_duration, 1, workdir, f"round{i}-{name}")
                got[name] = r["req_per_s"]
                if r["failed"]:
                    sys.exit(f"bench-router: round {i}: {r['failed']} calls failed ({name})")
            rounds.append({"direct_req_per_s": got["direct"], "routed_req_per_s": got["routed"],
                           "routed_unix_req_per_s": got["routed_unix"],
                           "ratio": round(got["routed"] / got["direct"], 3),
                           "ratio_unix": round(got["routed_unix"] / got["direct"], 3)})
            log(f"round {i + 1}/{args.rounds}: direct {got['direct']:.0f} req/s, routed {got['routed']:.0f} "
                f"req/s (ratio {rounds[-1]['ratio']}), routed to unix sockets {got['routed_unix']:.0f} req/s "
                f"(ratio {rounds[-1]['ratio_unix']})")
    finally:
        stop_all([direct, router, *reps, router_u, *reps_u])

    def median(key):
        ratios = sorted(r[key] for r in rounds)
        return ratios[len(ratios) // 2]

    return {"replicas": args.replicas, "streams": 50, "duration_s": args.round_duration, "rounds": rounds,
            "median_ratio": median("ratio"), "median_ratio_unix": median("ratio_unix")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shim", default=os.path.join(ROOT, "build", "services", "echo", "echo_shim"))
    ap.add_argument("--router", default=os.path.join(ROOT, "build", "runtime", "router", "shimkit_router"))
    ap.add_argument("--replicas", type=int, default=3, help="replicas behind the router (2-3 in the issue)")
    ap.add_argument("--workers", type=int, default=16, help="worker threads of each echo replica")
    ap.add_argument("--router-workers", type=int, default=64, help="worker threads of the router")
    ap.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    ap.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each measurement")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved direct/routed rounds at 50 streams")
    ap.add_argument("--round-duration", type=int, default=5, help="seconds per interleaved run")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="shimkit-bench-router-")
    pb2, pb2_grpc = echo_bench.stubs(workdir)
    body = os.path.join(workdir, "say.bin")
    with open(body, "wb") as f:
        f.write(echo_bench.grpc_frame())

    def echo(name, unix=False):
        listen = f"unix:{workdir}/{name}.sock" if unix else "127.0.0.1:0"
        return echo_bench.Server(name, [args.shim, "--listen", listen, "--name", name,
                                        "--workers", str(args.workers), "--no-access-log"], workdir)

    results = {}
    # Direct: one replica.
    direct = echo("direct").start()
    try:
        echo_bench.check_say(f"127.0.0.1:{direct.port}", pb2, pb2_grpc)
        time.sleep(1.0)
        results["direct"] = {"replicas": 1, "runs": measure("direct", direct.port, body, args, workdir, [direct])}
    finally:
        direct.stop()

    # Routed: the router in front of N replicas (the catch-all set "default", round robin); then in
    # front of one replica, and with --no-relay.
    results["router"] = routed("router", args.replicas, [], echo, args, pb2, pb2_grpc, body, workdir)
    results["router_unix"] = routed("router_unix", args.replicas, [], echo, args, pb2, pb2_grpc, body, workdir,
                                    unix=True)
    if args.replicas != 2:  # one replica per CPU on the 2-CPU machines this runs on: judged too
        results["router_two"] = routed("router_two", 2, [], echo, args, pb2, pb2_grpc, body, workdir)
    results["router_one"] = routed("router_one", 1, [], echo, args, pb2, pb2_grpc, body, workdir)
    results["router_core"] = routed("router_core", args.replicas, ["--no-relay"], echo, args, pb2, pb2_grpc, body,
                                    workdir)

    rounds = interleaved(echo, args, pb2, pb2_grpc, body, workdir) if args.rounds > 0 else None

    routed_keys = [k for k in ("router", "router_unix", "router_two", "router_one", "router_core") if k in results]
    summary = {k: report.summarize(results, echo_bench.STREAMS, k) for k in routed_keys}
    doc = {
        "benchmark": "unary Say, small payload: direct to one replica vs through shimkit_router",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "load": {"tool": subprocess.run(["h2load", "--version"], capture_output=True, text=True).stdout.strip(),
                 "connections": 1, "streams": list(echo_bench.STREAMS), "duration_s": args.duration,
                 "warmup_s": args.warmup, "request_bytes": len(echo_bench.grpc_frame()) - 5},
        "results": results,
        "summary": summary,
        "interleaved": rounds,
        "targets": {"ratio": f">= {report.TARGET_RATIO}", "added_p50_ms": f"<= {report.TARGET_ADDED_P50_MS}"},
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "router.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "router.md"), "w") as f:
        f.write(markdown(doc))
    log(f"wrote {os.path.relpath(os.path.join(args.out, 'router.md'), ROOT)} and router.json")
    print(markdown(doc))


def markdown(doc):
    res, summ = doc["results"], doc["summary"]
    n = res["router"]["replicas"]
    lines = [f"# Router benchmark ({doc['date']})", "",
             f"{doc['load']['tool']}, 1 connection, {doc['load']['duration_s']} s per run after "
             f"{doc['load']['warmup_s']} s warm-up, unary Say ({doc['load']['request_bytes']}-byte request); "
             f"{doc['machine']['cpus']} CPUs shared by h2load, the router and {n} echo_shim replicas "
             f"(direct: 1 replica). Raw figures: router.json.", ""]
    labels = {"direct": "direct to one echo_shim", "router": f"shimkit_router -> {n} replicas",
              "router_unix": f"shimkit_router -> {n} replicas on unix sockets",
              "router_two": "shimkit_router -> 2 replicas", "router_one": "shimkit_router -> 1 replica",
              "router_core": f"shimkit_router --no-relay -> {n} replicas"}
    labels = {k: v for k, v in labels.items() if k in res}
    lines += report.tables(res, summ, labels,
                           judged=[k for k in ("router", "router_unix", "router_two") if k in res])
    rounds = doc.get("interleaved")
    if rounds:
        lines += [f"## Interleaved rounds: direct and through the router to {rounds['replicas']} replicas, "
                  f"{rounds['streams']} streams", "",
                  f"Each round runs the three, {rounds['duration_s']} s each after 1 s of warm-up, seconds apart "
                  "(the order turning each round), with every process up throughout: direct to one replica, "
                  "through the router to replicas on loopback ports (tcp), and to replicas on unix sockets "
                  "(unix).", "",
                  "| round | direct req/s | routed req/s (tcp) | routed / direct (tcp) | routed req/s (unix) "
                  "| routed / direct (unix) |", "|---:|---:|---:|---:|---:|---:|"]
        for i, r in enumerate(rounds["rounds"], 1):
            lines.append(f"| {i} | {r['direct_req_per_s']:.0f} | {r['routed_req_per_s']:.0f} | {r['ratio']} | "
                         f"{r['routed_unix_req_per_s']:.0f} | {r['ratio_unix']} |")
        lines.append("")
        for name, med in (("tcp", rounds["median_ratio"]), ("unix", rounds["median_ratio_unix"])):
            lines.append(f"- Median ratio ({name}) {med}: target >= {report.TARGET_RATIO} "
                         f"({'met' if med >= report.TARGET_RATIO else 'NOT met'}).")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
