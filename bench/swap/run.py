#!/usr/bin/env python3
"""Swap benchmark (issue 5 §7, second part): `shimctl swap` under a steady
load through the router, one fresh stack per swap, in one run.

    .venv/bin/python bench/swap/run.py [--rate 500] [--only training-canary] [--docker no]

For each swap: `shimctl up` a stack (process environment unless said
otherwise), start tests/e2e/loadgen/loadgen.py at --rate calls/s through the
router, wait --before seconds, run `shimctl swap`, keep the load --after
seconds, stop it, `shimctl down`. Recorded per swap: calls made and failed
(the issue wants 0), achieved rate, p50/p99/max latency over the whole load
and over the swap's own window (from loadgen's --calls-file), the swap's
duration as shimctl reports it and as measured around the command, how long
traffic took to move and, for stateful services, how long the router held
the calls (writes included: the load is half writes) while the state was
copied, and how many acknowledged writes no longer read back afterwards.

Swaps: training liblinear -> libsvm at once and by canary weights;
model_execution if shimctl's catalog has a second implementation (asked of
shimctl itself, skipped otherwise); feature_store sqlite -> redis and
model_repository fs -> postgres (Redis and PostgreSQL of our own, from
scripts/services/); training at once in the docker environment if dockerd
answers (scripts/services/docker.sh start; `shimctl build` first), skipped
with the reason otherwise. Everything is bounded in time; a swap that fails
is recorded with its reason and the run goes on.

Writes bench/results/swap.json and swap.md. Not a test: zero failed calls is
reported, never asserted (the e2e tests assert it at lower rates).
"""
import argparse
import datetime
import importlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e", "python"))
# The e2e tests' helpers: stack file + shimctl runs + state file, and our own Redis/PostgreSQL.
from shimctl_stack import Postgres, Redis, Stack, free_port, ml_stubs  # noqa: E402

LOADGEN = os.path.join(ROOT, "tests", "e2e", "loadgen", "loadgen.py")
DOCKER_SH = os.path.join(ROOT, "scripts", "services", "docker.sh")
IMAGE_TAG = "swapbench"  # not the tests' "e2e": other runs on the same dockerd keep theirs


def log(msg):
    print(f"bench-swap: {msg}", flush=True)


# -- what to swap ----------------------------------------------------------------------------------

def swaps(args):
    """Every swap of the run: name, service, from -> to, loadgen mode, stack extras, shimctl swap flags."""
    return [
        {"name": "training-at-once", "service": "training", "from": "liblinear", "to": "libsvm",
         "mode": "training", "env": "process", "replicas": 2, "flags": []},
        {"name": "training-canary", "service": "training", "from": "liblinear", "to": "libsvm",
         "mode": "training", "env": "process", "replicas": 2,
         "flags": ["--canary", args.canary, "--step-ms", str(args.step_ms)]},
        {"name": "model_execution", "service": "model_execution", "from": None, "to": None,
         "mode": None, "env": "process", "replicas": 2, "flags": []},
        {"name": "feature_store-sqlite-redis", "service": "feature_store", "from": "sqlite", "to": "redis",
         "mode": "feature_store", "env": "process", "replicas": 2, "flags": [], "needs": "redis"},
        {"name": "model_repository-fs-postgres", "service": "model_repository", "from": "fs", "to": "postgres",
         "mode": "model_repository", "env": "process", "replicas": 1, "flags": [], "needs": "postgres"},
        {"name": "docker-training-at-once", "service": "training", "from": "liblinear", "to": "libsvm",
         "mode": "training", "env": "docker", "replicas": 2, "flags": []},
    ]


def implementations(shimctl, service, folder):
    """The implementations shimctl's catalog has for a service: a stack file with an unknown
    one is refused before anything starts, and the refusal lists the valid ones."""
    path = os.path.join(folder, "probe.yaml")
    with open(path, "w") as f:
        f.write(f"stack: probe\nrouter:\n  listen: 127.0.0.1:{free_port()}\nservices:\n"
                f"  {service}:\n    implementation: \"?\"\n")
    r = subprocess.run([shimctl, "-f", path, "up"], capture_output=True, text=True, timeout=30, cwd=folder)
    m = re.search(r"\(valid: ([^)]*)\)", r.stderr)
    if r.returncode != 2 or not m:
        raise RuntimeError(f"cannot read {service}'s implementations from shimctl: {r.stderr.strip()}")
    return [s.strip() for s in m.group(1).split(",")]


def stack_text(sw, name, port, folder, services):
    """The stack file of one swap: the service with its from implementation, flags of both."""
    lines = [f"stack: {name}"]
    if sw["env"] != "process":
        lines.append(f"environment: {sw['env']}")
    lines += ["router:", f"  listen: 127.0.0.1:{port}", "services:", f"  {sw['service']}:",
              f"    implementation: {sw['from']}", f"    replicas: {sw['replicas']}", "    drain_grace_ms: 2000"]
    if sw["service"] == "feature_store":
        lines += ["    implementations:", "      sqlite:", f"        db: {folder}/features.db",
                  "      redis:", f"        redis: \"{services['redis'].addr}\""]
    elif sw["service"] == "model_repository":
        lines += ["    implementations:", "      fs:", f"        data-dir: {folder}/models",
                  "      postgres:", f"        postgres-dsn: \"{services['postgres'].db_dsn}\""]
    return "\n".join(lines) + "\n"


# -- docker ------------------------------------------------------------------------------------------

def docker_up(args):
    """None when dockerd answers (started by scripts/services/docker.sh if needed), else why not."""
    if args.docker == "no":
        return "--docker no"
    try:
        r = subprocess.run([DOCKER_SH, "start"], capture_output=True, text=True, timeout=args.docker_timeout + 30,
                           env={**os.environ, "DOCKER_SH_TIMEOUT": str(args.docker_timeout)})
    except subprocess.TimeoutExpired:
        return f"scripts/services/docker.sh start did not finish in {args.docker_timeout + 30} s"
    if r.returncode != 0:
        last = [x for x in r.stderr.strip().splitlines() if x.strip()]
        return "scripts/services/docker.sh start failed: " + (last[-1] if last else f"exit {r.returncode}")
    return None


def docker_cleanup(stack_name):
    """Containers and volumes of the stack that `shimctl down` left (labels set by shimctl)."""
    flt = f"label=io.shimkit.stack={stack_name}"
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", flt], capture_output=True, text=True,
                         timeout=30).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=60)
    vols = subprocess.run(["docker", "volume", "ls", "-q", "--filter", flt], capture_output=True, text=True,
                          timeout=30).stdout.split()
    if vols:
        subprocess.run(["docker", "volume", "rm", "-f", *vols], capture_output=True, timeout=60)
    return len(ids)


# -- one swap ----------------------------------------------------------------------------------------

def pct(values, q):
    v = sorted(values)
    return round(v[min(len(v) - 1, int(q * len(v)))], 2) if v else None


def window(calls, t0, t1):
    """Calls started in [t0, t1]: count, failed, p50/p99/max ms."""
    inside = [(ms, ok) for start, ms, ok in calls if t0 <= start <= t1]
    lat = [ms for ms, _ in inside]
    return {"calls": len(inside), "failed": sum(1 for _, ok in inside if not ok), "p50_ms": pct(lat, 0.5),
            "p99_ms": pct(lat, 0.99), "max_ms": round(max(lat), 2) if lat else None}


def missing_acked(mode, target, keys):
    """How many of the writes loadgen saw acknowledged cannot be read back through the router."""
    import grpc

    ml_stubs()
    missing = 0
    with grpc.insecure_channel(target) as ch:
        if mode == "feature_store":
            pb = importlib.import_module("ml.v1.feature_store_pb2")
            stub = importlib.import_module("ml.v1.feature_store_pb2_grpc").FeatureStoreStub(ch)
            for i in range(0, len(keys), 200):
                part = keys[i:i + 200]
                r = stub.GetOnlineFeatures(pb.GetOnlineFeaturesRequest(view="loadgen", entity_keys=part), timeout=30)
                missing += sum(1 for v in r.vectors if v.statuses[0] != pb.VALUE_STATUS_PRESENT)
        else:
            pb = importlib.import_module("ml.v1.model_repository_pb2")
            stub = importlib.import_module("ml.v1.model_repository_pb2_grpc").ModelRepositoryStub(ch)
            for k in keys:
                try:
                    stub.GetModel(pb.GetModelRequest(name=k), timeout=30)
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.NOT_FOUND:
                        raise
                    missing += 1
    return missing


def timed_run(argv, cwd, timeout):
    """Runs argv; (exit code, [(time.monotonic() when each stdout line came, line)], stderr).
    Killed after timeout seconds (exit code -9)."""
    p = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, err = [], []
    readers = [threading.Thread(target=lambda: [lines.append((time.monotonic(), x.rstrip("\n"))) for x in p.stdout]),
               threading.Thread(target=lambda: err.append(p.stderr.read()))]
    for t in readers:
        t.start()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(10)
        err.append(f"(killed after {timeout:g} s)")
    for t in readers:
        t.join(10)
    return p.returncode, lines, "".join(err)


def run_swap(sw, index, args, services, workdir):
    rec = {k: sw[k] for k in ("name", "service", "from", "to", "env", "replicas")}
    rec["flags"] = " ".join(sw["flags"])
    folder = tempfile.mkdtemp(prefix=f"{sw['name']}-", dir=workdir)
    os.chmod(folder, 0o755)
    stack_name = f"swapbench-{os.getpid()}-{index}"
    stack = Stack(folder, stack_text(sw, stack_name, free_port(), folder, services))
    load = None
    try:
        if sw["env"] == "docker":
            log(f"{sw['name']}: shimctl build {sw['service']} (tag {IMAGE_TAG}) ...")
            t = time.monotonic()
            r = stack.run("build", sw["service"], check=False, timeout=args.build_timeout)
            if r.returncode != 0:
                raise RuntimeError(f"shimctl build exited {r.returncode}: {(r.stderr or r.stdout).strip()[-400:]}")
            rec["build_s"] = round(time.monotonic() - t, 1)
        log(f"{sw['name']}: shimctl up ({sw['service']} {sw['from']}, {sw['replicas']} replica(s), "
            f"{sw['env']} environment)")
        r = stack.run("up", check=False, timeout=args.up_timeout)
        if r.returncode != 0:
            raise RuntimeError(f"shimctl up exited {r.returncode}: {(r.stderr or r.stdout).strip()[-400:]}")
        m = re.search(r"clients call (\S+)", r.stdout)
        stack.router = m.group(1)

        calls_file = os.path.join(folder, "calls.txt")
        acked_file = os.path.join(folder, "acked.txt")
        ready = os.path.join(folder, "load.ready")
        most_s = args.before + args.swap_timeout + args.after + 10
        load = subprocess.Popen([sys.executable, LOADGEN, "--target", stack.router, "--mode", sw["mode"],
                                 "--rate", str(args.rate), "--threads", str(args.threads),
                                 "--duration", str(most_s), "--count", str(int(args.rate * most_s)),
                                 "--call-timeout", str(args.call_timeout), "--ready-file", ready,
                                 "--calls-file", calls_file, "--acked", acked_file],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not os.path.exists(ready) and load.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not os.path.exists(ready):
            raise RuntimeError("the load generator made no successful call in 60 s"
                               + (f": {load.stderr.read().strip()[-400:]}" if load.poll() is not None else ""))
        log(f"{sw['name']}: load at {args.rate:g} calls/s ({sw['mode']}); swap in {args.before:g} s")
        time.sleep(args.before)

        log(f"{sw['name']}: shimctl swap {sw['service']} --to {sw['to']} {rec['flags']}".rstrip())
        t_swap = time.monotonic()
        code, lines, stderr = timed_run([args.shimctl, "-f", stack.path, "swap", sw["service"], "--to", sw["to"],
                                         *sw["flags"]], folder, args.swap_timeout)
        t_done = time.monotonic()
        rec["swap_exit"] = code
        rec["swap_measured_s"] = round(t_done - t_swap, 3)
        # shimctl flushes each line: when it came is when that step ended (s since the command started).
        rec["shimctl_output"] = [f"{t - t_swap:7.3f} {line}" for t, line in lines]
        out = "\n".join(line for _, line in lines)
        if code != 0:
            rec["swap_error"] = stderr.strip()
            log(f"{sw['name']}: shimctl swap exited {code}: {stderr.strip()}")
        m = re.search(r"swapped \S+ to \S+ in ([0-9.]+) s \(traffic moved in (\d+) ms", out)
        if m:
            rec["swap_reported_s"] = float(m.group(1))
            rec["traffic_moved_ms"] = int(m.group(2))
        m = re.search(r"hold released after (\d+) ms", out)
        if m:
            rec["hold_ms"] = int(m.group(1))
        m = re.search(r"state copied: (\d+) records", out)
        if m:
            rec["records_copied"] = int(m.group(1))
        log(f"{sw['name']}: swap took {rec['swap_measured_s']} s; load goes on {args.after:g} s")
        time.sleep(args.after)

        load.send_signal(signal.SIGTERM)
        out, err = load.communicate(timeout=args.call_timeout + 30)
        if load.returncode != 0:
            raise RuntimeError(f"loadgen exited {load.returncode}: {err.strip()[-400:]}")
        res = json.loads(out.strip().splitlines()[-1])
        rec["load"] = {k: res[k] for k in ("calls", "failed", "errors", "p50_ms", "p99_ms", "max_ms", "duration_s",
                                           "acked", "unfinished")}
        rec["load"]["rate"] = round(res["calls"] / res["duration_s"], 1) if res["duration_s"] else None
        calls = []
        with open(calls_file) as f:
            for line in f:
                start, ms, ok = line.split()
                calls.append((float(start), float(ms), ok == "1"))
        rec["during_swap"] = window(calls, t_swap, t_done)
        try:
            rec["sets_after"] = {s.set.name: s.set.weight for s in stack.list_sets().sets}
        except Exception as e:  # noqa: BLE001 - recorded, the figures above stand
            rec["sets_after"] = f"ListSets failed: {e}"
        if sw["mode"] in ("feature_store", "model_repository"):
            keys = open(acked_file).read().split()
            try:
                rec["acked_writes"] = len(keys)
                rec["acked_writes_missing"] = missing_acked(sw["mode"], stack.router, keys)
                log(f"{sw['name']}: {len(keys)} acknowledged writes, {rec['acked_writes_missing']} missing after "
                    "the swap")
            except Exception as e:  # noqa: BLE001 - recorded, the figures above stand
                rec["acked_writes_missing"] = f"check failed: {e}"
        lo = rec["load"]
        log(f"{sw['name']}: {lo['calls']} calls, {lo['failed']} failed, {lo['rate']} calls/s, p50 {lo['p50_ms']} ms, "
            f"p99 {lo['p99_ms']} ms; during the swap {rec['during_swap']['calls']} calls, max "
            f"{rec['during_swap']['max_ms']} ms; sets after: {rec['sets_after']}")
        if lo["failed"]:
            log(f"{sw['name']}: FAILED CALLS: {lo['errors']}")
    except Exception as e:  # noqa: BLE001 - one swap's failure is recorded, the run goes on
        rec["error"] = f"{type(e).__name__}: {e}"
        log(f"{sw['name']}: ERROR {rec['error']}")
    finally:
        if load is not None and load.poll() is None:
            load.kill()
            load.wait(10)
        try:
            stack.close()  # shimctl down (SIGKILLs what it cannot stop), sanitizer lines in the logs
        except (AssertionError, subprocess.TimeoutExpired) as e:
            rec["teardown_error"] = str(e)[-400:]
            log(f"{sw['name']}: teardown: {rec['teardown_error']}")
        if sw["env"] == "docker":
            left = docker_cleanup(stack_name)
            if left:
                rec["teardown_error"] = f"{left} container(s) left after shimctl down, removed"
    return rec


# -- report ------------------------------------------------------------------------------------------

def git_commit():
    def git(*a):
        return subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "runtime", "services", "tests", "bench")
    return head + ("+local changes" if dirty else "")


def error_kinds(errors):
    """loadgen's errors with the key or model name left out, so that one cause is one line."""
    out = {}
    for msg, n in errors.items():
        kind = re.sub(r"lg-[0-9]+-[0-9]+-[0-9]+", "lg-…", msg)
        out[kind] = out.get(kind, 0) + n
    return "; ".join(f"{n}× {k}" for k, n in sorted(out.items(), key=lambda kv: -kv[1]))


def markdown(doc):
    ld = doc["load"]
    lines = [f"# Swap benchmark ({doc['date']}, commit {doc['commit']})", "",
             f"`shimctl swap` under {ld['rate']:g} calls/s through shimkit_router (tests/e2e/loadgen/loadgen.py, "
             f"{ld['threads']} threads, wait-for-ready, {ld['call_timeout_s']:g} s call timeout), one fresh stack "
             f"per swap: load {ld['before_s']:g} s, swap, load {ld['after_s']:g} s more. "
             f"{doc['machine']['cpus']} CPUs shared by the load generator, the router, the shims and the stores "
             f"(load average {doc['machine']['loadavg_before']} before the run). Raw figures: swap.json.", "",
             "| swap | env | calls | failed | calls/s | p50 ms | p99 ms | max ms | swap s (shimctl) | "
             "swap s (measured) | traffic moved ms | calls held ms |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    skipped, problems = [], []
    for r in doc["swaps"]:
        label = f"{r['service']} {r['from']} → {r['to']}" + (f" ({r['flags']})" if r.get("flags") else "")
        if r.get("skipped"):
            skipped.append(f"- {r['name']}: skipped: {r['skipped']}")
            continue
        lo = r.get("load")
        if not lo:
            problems.append(f"- {r['name']}: {r.get('error', 'no figures')}")
            lines.append(f"| {label} | {r['env']} | – | – | – | – | – | – | – | – | – | – |")
            continue

        def f(k, d=r):
            v = d.get(k)
            return "–" if v is None else str(v)
        lines.append(f"| {label} | {r['env']} | {lo['calls']} | {lo['failed']} | {f('rate', lo)} | {f('p50_ms', lo)} | "
                     f"{f('p99_ms', lo)} | {f('max_ms', lo)} | {f('swap_reported_s')} | {f('swap_measured_s')} | "
                     f"{f('traffic_moved_ms')} | {f('hold_ms')} |")
        if lo["failed"]:
            problems.append(f"- {r['name']}: {lo['failed']} failed calls: {error_kinds(lo['errors'])}")
        for k in ("swap_error", "error", "teardown_error"):
            if r.get(k):
                problems.append(f"- {r['name']}: {k.replace('_', ' ')}: {' / '.join(r[k].splitlines())}")
    lines += ["", "During the swap itself (calls started between the start and the end of `shimctl swap`):", "",
              "| swap | env | calls | failed | p50 ms | p99 ms | max ms | records copied | acked writes missing after "
              "| sets after |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in doc["swaps"]:
        w = r.get("during_swap")
        if not w:
            continue
        sets = r.get("sets_after")
        sets = ", ".join(f"{k} {v}" for k, v in sets.items()) if isinstance(sets, dict) else str(sets)
        rc = r.get("records_copied")
        lost = f"{r['acked_writes_missing']} of {r['acked_writes']}" if "acked_writes" in r else "–"
        label = f"{r['service']} {r['from']} → {r['to']}{' (canary)' if r.get('flags') else ''}"
        lines.append(f"| {label} | {r['env']} | {w['calls']} | {w['failed']} | {w['p50_ms']} | {w['p99_ms']} | "
                     f"{w['max_ms']} | {'–' if rc is None else rc} | {lost} | {sets} |")
    lines += ["", "Columns: *calls/s* is calls / the load's duration (its last calls included); *swap s (shimctl)* "
              "is what `shimctl swap` prints (start of the new set to the old one stopped), *measured* is the "
              "command's wall time; *traffic moved* is shimctl's time from the first weight change (stateful: "
              "the hold) to all traffic on the new set; *calls held* is how long the router held the service's "
              "new calls (half of them writes) while the old set drained and the state was copied; *records "
              "copied* are Export's messages (feature store: a view or a batch of rows; model repository: a model, "
              "version, artifact chunk or alias); *acked writes missing after* counts the writes loadgen saw "
              "acknowledged that no longer read back through the router after the swap. Latency is from the "
              "moment loadgen sent a call, so a held call counts its wait.", ""]
    steps = [r for r in doc["swaps"] if r.get("shimctl_output") and (r.get("records_copied") is not None
                                                                       or r.get("swap_exit"))]
    for r in steps:
        lines += [f"`shimctl swap` of {r['name']}, each line with the second it came:", "", "```"]
        lines += r["shimctl_output"] + [f"        (stderr) {x}" for x in (r.get("swap_error") or "").splitlines()]
        lines += ["```", ""]
    if skipped:
        lines += ["Skipped:", ""] + skipped + [""]
    total_failed = sum(r["load"]["failed"] for r in doc["swaps"] if r.get("load"))
    measured = [r for r in doc["swaps"] if r.get("load")]
    lines.append(f"Failed calls over the {len(measured)} measured swap(s): {total_failed} (the issue wants 0).")
    if problems:
        lines += ["", "Problems:", ""] + problems
    lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Writes --out/swap.json and swap.md; prints progress as it goes.")
    ap.add_argument("--shimctl", default=os.path.join(ROOT, "build", "runtime", "shimctl", "shimctl"))
    ap.add_argument("--rate", type=float, default=500, help="calls per second through the router (default 500)")
    ap.add_argument("--threads", type=int, default=256,
                    help="loadgen's most calls in flight (default 256: a hold of 0.5 s at 500/s does not slow "
                         "the load down)")
    ap.add_argument("--before", type=float, default=2, help="seconds of load before the swap (default 2)")
    ap.add_argument("--after", type=float, default=2, help="seconds of load after the swap (default 2)")
    ap.add_argument("--canary", default="10,50,100", help="weights of the canary swap (default 10,50,100)")
    ap.add_argument("--step-ms", type=int, default=1000, help="ms between canary steps (default 1000)")
    ap.add_argument("--call-timeout", type=float, default=20, help="loadgen's per-call deadline, s (default 20)")
    ap.add_argument("--up-timeout", type=float, default=150, help="longest shimctl up, s (default 150)")
    ap.add_argument("--swap-timeout", type=float, default=120, help="longest shimctl swap, s (default 120)")
    ap.add_argument("--build-timeout", type=float, default=600, help="longest shimctl build (docker), s")
    ap.add_argument("--docker", choices=["auto", "no"], default="auto",
                    help="auto: start dockerd with scripts/services/docker.sh and run the docker swap if it "
                         "answers; no: skip it")
    ap.add_argument("--docker-timeout", type=int, default=60, help="longest wait for dockerd to answer, s")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only this swap (repeatable): " + ", ".join(s["name"] for s in swaps(
                        argparse.Namespace(canary="", step_ms=0))))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = ap.parse_args()

    args.shimctl = os.path.abspath(args.shimctl)  # shimctl runs in each stack's folder
    if not os.access(args.shimctl, os.X_OK):
        sys.exit(f"bench-swap: no shimctl at {args.shimctl} (scripts/build.sh --target shimctl)")
    os.environ["SHIMKIT_SHIMCTL"] = args.shimctl
    os.environ.pop("SHIMKIT_SHIMCTL_ENVIRONMENT", None)  # the stack files say their environment
    os.environ["SHIMCTL_IMAGE_TAG"] = IMAGE_TAG
    workdir = tempfile.mkdtemp(prefix="shimkit-bench-swap-")
    os.chmod(workdir, 0o755)
    loadavg_before = " ".join(open("/proc/loadavg").read().split()[:3])
    todo = [s for s in swaps(args) if not args.only or s["name"] in args.only]
    unknown = set(args.only) - {s["name"] for s in swaps(args)}
    if unknown:
        sys.exit(f"bench-swap: unknown --only {', '.join(sorted(unknown))}")

    records, services = [], {}
    try:
        for sw in todo:
            if sw["service"] == "model_execution":
                try:
                    impls = implementations(args.shimctl, "model_execution", workdir)
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    log(f"{sw['name']}: skipped: {e}")
                    records.append({**{k: sw[k] for k in ("name", "service", "env", "from", "to")},
                                    "skipped": str(e)})
                    continue
                if len(impls) < 2:
                    reason = f"shimctl's catalog has one implementation of model_execution ({', '.join(impls)})"
                    log(f"{sw['name']}: skipped: {reason}")
                    records.append({**{k: sw[k] for k in ("name", "service", "env")}, "from": impls[0], "to": None,
                                    "skipped": reason})
                    continue
                sw["from"], sw["to"], sw["mode"] = impls[0], impls[1], None
                reason = "no load mode for model_execution in loadgen.py yet"  # a second implementation appeared
                log(f"{sw['name']}: skipped: {reason}")
                records.append({**{k: sw[k] for k in ("name", "service", "env", "from", "to")}, "skipped": reason})
                continue
            if sw["env"] == "docker":
                why = docker_up(args)
                if why:
                    log(f"{sw['name']}: skipped: docker not available: {why}")
                    records.append({**{k: sw[k] for k in ("name", "service", "env", "from", "to")},
                                    "skipped": f"docker not available: {why}"})
                    continue
            need = sw.get("needs")
            if need and need not in services:
                log(f"starting {need} (scripts/services/{need}.sh) ...")
                try:
                    services[need] = Redis() if need == "redis" else Postgres()
                except (subprocess.SubprocessError, OSError) as e:
                    log(f"{sw['name']}: skipped: {need} did not start: {e}")
                    records.append({**{k: sw[k] for k in ("name", "service", "env", "from", "to")},
                                    "skipped": f"{need} did not start: {e}"})
                    continue
            records.append(run_swap(sw, len(records), args, services, workdir))
    finally:
        for name, svc in services.items():
            log(f"stopping {name}")
            svc.close()
        if any(s["env"] == "docker" and not s.get("skipped") for s in records):
            imgs = subprocess.run(["docker", "images", "-q", "--filter", f"reference=shimkit/*:{IMAGE_TAG}"],
                                  capture_output=True, text=True, timeout=30).stdout.split()
            if imgs:
                subprocess.run(["docker", "rmi", "-f", *sorted(set(imgs))], capture_output=True, timeout=120)
        subprocess.run(["rm", "-rf", workdir], check=False)

    doc = {
        "benchmark": "shimctl swap under a steady load through shimkit_router",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "loadavg_before": loadavg_before,
                    "loadavg_after": " ".join(open("/proc/loadavg").read().split()[:3])},
        "load": {"tool": "tests/e2e/loadgen/loadgen.py", "rate": args.rate, "threads": args.threads,
                 "before_s": args.before, "after_s": args.after, "call_timeout_s": args.call_timeout},
        "swaps": records,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "swap.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "swap.md"), "w") as f:
        f.write(markdown(doc))
    log(f"wrote {os.path.relpath(os.path.join(args.out, 'swap.md'), ROOT)} and swap.json")
    print(markdown(doc))


if __name__ == "__main__":
    main()
