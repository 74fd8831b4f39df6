#!/usr/bin/env python3
"""ModelInfer benchmark (issue 4, section 7): one XGBoost model file served by
shimkit's model_execution_shim and by MLServer's XGBoost runtime (both speak
the Open Inference Protocol, inference.GRPCInferenceService), loaded by ghz
with the same serialized ModelInferRequest, in one run on this machine.

    .venv/bin/python bench/model_infer/run.py --build build \
        --mlserver .bench-venv/bin/mlserver --ghz .tools/bin/ghz

Steps: train a binary:logistic booster on all 270 heart_scale rows with
me_xgb_train (XGBoost's C API) into model.json; register that file in a
model_repository_shim (fs) and preload it in a model_execution_shim; point an
MLServer model-settings.json at the same file (127.0.0.1, gRPC and HTTP on free
ports, metrics off); check that both answer the bench request, and every
heart_scale row, with the same prediction; then for each server and each
concurrency (1, 32 streams on one connection) run ghz for --warmup seconds
(discarded) and --duration seconds (measured). Writes bench/results/
model_infer.json and model_infer.md. The target (shim >= 10x MLServer's
throughput) is reported, never asserted. Everything started is stopped.
"""
import argparse
import datetime
import hashlib
import importlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROTO = os.path.join(ROOT, "proto")
HEART_SCALE = "/usr/share/doc/liblinear-tools/examples/heart_scale"
N_FEATURES = 13
MODEL = "heart-xgboost"
CONCURRENCY = (1, 32)
TARGET_RATIO = 10.0  # shim req/s >= 10x MLServer's (reported, not asserted)


def log(msg):
    print(f"bench: {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_heart_scale():
    rows = []
    with open(HEART_SCALE) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            x = [0.0] * N_FEATURES
            for p in parts[1:]:
                j, v = p.split(":")
                x[int(j) - 1] = float(v)
            rows.append((float(parts[0]), x))
    return rows


def stubs(tmp):
    from grpc_tools import protoc
    import grpc_tools

    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    os.makedirs(tmp, exist_ok=True)
    files = [os.path.join(PROTO, "inference", "grpc_predict_v2.proto")] + [
        os.path.join(PROTO, "ml", "v1", f) for f in ("common.proto", "model_repository.proto")]
    rc = protoc.main(["protoc", f"-I{PROTO}", f"-I{wkt}", f"--python_out={tmp}", f"--grpc_python_out={tmp}", *files])
    if rc:
        sys.exit("bench: grpc_tools.protoc failed")
    sys.path.insert(0, tmp)
    return {m: importlib.import_module(m) for m in (
        "inference.grpc_predict_v2_pb2", "inference.grpc_predict_v2_pb2_grpc", "ml.v1.common_pb2",
        "ml.v1.model_repository_pb2", "ml.v1.model_repository_pb2_grpc")}


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, name, argv, logf, **kw):
        f = open(logf, "w")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                             start_new_session=True, **kw)
        self.procs.append((name, p))
        return p

    def stop(self):
        for _, p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 20
        for _, p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()


def start_shim(procs, name, argv, logf, listen="127.0.0.1:0"):
    """Starts a shim on listen (a free loopback port, or "unix:PATH"): its address, once it listens."""
    p = procs.start(name, argv + ["--listen", listen, "--no-access-log"], logf)
    deadline = time.time() + 30
    pattern = re.escape(listen) if listen.startswith("unix:") else r"127\.0\.0\.1:\d+"
    while time.time() < deadline:
        m = re.search(rf"listening on ({pattern}) ", open(logf).read())
        if m:
            log(f"{name} listening on {m.group(1)}")
            return m.group(1)
        if p.poll() is not None:
            break
        time.sleep(0.1)
    sys.exit(f"bench: {name} did not start:\n{open(logf).read()}")


def register(pb, target, path):
    import grpc

    data = open(path, "rb").read()
    mr, mr_grpc, common = pb["ml.v1.model_repository_pb2"], pb["ml.v1.model_repository_pb2_grpc"], pb["ml.v1.common_pb2"]
    with grpc.insecure_channel(target) as ch:
        stub = mr_grpc.ModelRepositoryStub(ch)
        stub.CreateModel(mr.CreateModelRequest(name=MODEL), timeout=10)
        header = mr.UploadHeader(
            model_name=MODEL, framework="xgboost", sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
            inputs=[common.TensorSpec(name="features", datatype="FP64", shape=[-1, N_FEATURES])],
            outputs=[common.TensorSpec(name="label", datatype="FP64", shape=[-1])])
        parts = [mr.UploadVersionRequest(header=header), mr.UploadVersionRequest(chunk=data)]
        return stub.UploadVersion(iter(parts), timeout=30).version


def infer_request(pb2, rows, datatype, outputs=()):
    flat = [v for x in rows for v in x]
    t = pb2.ModelInferRequest.InferInputTensor(name="features", datatype=datatype, shape=[len(rows), N_FEATURES])
    (t.contents.fp32_contents if datatype == "FP32" else t.contents.fp64_contents).extend(flat)
    return pb2.ModelInferRequest(model_name=MODEL, inputs=[t], outputs=[
        pb2.ModelInferRequest.InferRequestedOutputTensor(name=o) for o in outputs])


def values(resp, name):
    for i, o in enumerate(resp.outputs):
        if o.name == name:
            if resp.raw_output_contents:
                data = resp.raw_output_contents[i]
                fmt = {"FP64": "d", "FP32": "f", "INT64": "q", "INT32": "i"}[o.datatype]
                return o.datatype, list(o.shape), list(struct.unpack(f"<{len(data) // struct.calcsize(fmt)}{fmt}", data))
            c = o.contents
            vals = list(c.fp64_contents) or list(c.fp32_contents) or list(c.int64_contents) or list(c.int_contents)
            return o.datatype, list(o.shape), vals
    raise SystemExit(f"bench: no output {name} in {[o.name for o in resp.outputs]}")


def wait_ready(pb, target, what, proc, timeout=90):
    import grpc

    pb2, pbg = pb["inference.grpc_predict_v2_pb2"], pb["inference.grpc_predict_v2_pb2_grpc"]
    deadline = time.time() + timeout
    with grpc.insecure_channel(target) as ch:
        stub = pbg.GRPCInferenceServiceStub(ch)
        while time.time() < deadline:
            if proc.poll() is not None:
                return False
            try:
                if stub.ModelReady(pb2.ModelReadyRequest(name=MODEL), timeout=2).ready:
                    return True
            except grpc.RpcError:
                pass
            time.sleep(0.3)
    return False


def verify(pb, shim, mls, rows, datatype):
    """Both servers' predictions for rows: the shim's P(class 1) = probability[:,1]; MLServer's XGBoost runtime
    loads a booster saved without scikit-learn metadata as an XGBRegressor, whose predict() of a
    binary:logistic model is that same P(class 1). Returns a summary dict; exits on a mismatch."""
    import grpc

    pb2, pbg = pb["inference.grpc_predict_v2_pb2"], pb["inference.grpc_predict_v2_pb2_grpc"]
    with grpc.insecure_channel(shim) as c1, grpc.insecure_channel(mls) as c2:
        s = pbg.GRPCInferenceServiceStub(c1).ModelInfer(infer_request(pb2, rows, datatype, ("label", "probability")), timeout=30)
        m = pbg.GRPCInferenceServiceStub(c2).ModelInfer(infer_request(pb2, rows, datatype), timeout=30)
    _, _, labels = values(s, "label")
    _, pshape, probs = values(s, "probability")
    mdt, mshape, mpred = values(m, "predict")
    p1 = probs[1::2]
    if len(mpred) != len(rows) or pshape != [len(rows), 2]:
        sys.exit(f"bench: prediction shapes differ: shim probability {pshape}, MLServer predict {mshape}")
    diff = max(abs(a - b) for a, b in zip(p1, mpred))
    agree = all((b > 0.5) == (lab == 1) for b, lab in zip(mpred, labels))
    if diff > 1e-5 or not agree:
        sys.exit(f"bench: predictions differ ({datatype}): max |p_shim - p_mlserver| = {diff}, labels agree: {agree}")
    return {"rows": len(rows), "datatype": datatype, "max_abs_diff_p1": diff, "labels_agree": agree,
            "mlserver_output": {"name": "predict", "datatype": mdt, "shape": mshape}}


def ghz(args, target, binfile, concurrency, seconds, out=None):
    argv = [args.ghz, "--insecure", "--proto", os.path.join(PROTO, "inference", "grpc_predict_v2.proto"),
            "--import-paths", PROTO, "--call", "inference.GRPCInferenceService/ModelInfer",
            "--binary-file", binfile, "--disable-template-functions", "--disable-template-data",
            "-c", str(concurrency), "--connections", "1", "-z", f"{seconds}s", "--duration-stop", "ignore",
            "-t", "20s", "--cpus", str(os.cpu_count() or 1), "-O", "json", target]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    if r.returncode != 0 and not r.stdout.strip().startswith("{"):
        sys.exit(f"bench: ghz failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)


def summarize(rep):
    pct = {int(d["percentage"]): d["latency"] / 1e6 for d in rep.get("latencyDistribution") or []}
    status = rep.get("statusCodeDistribution") or {}
    ok = status.get("OK", 0)
    return {"requests_ok": ok, "errors": sum(v for k, v in status.items() if k != "OK"),
            "error_distribution": rep.get("errorDistribution") or {},
            "seconds": rep["total"] / 1e9, "req_per_s": ok / (rep["total"] / 1e9),
            "p50_ms": pct.get(50), "p99_ms": pct.get(99), "mean_ms": rep["average"] / 1e6}


def rss_mb(pids):
    total = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def tree_pids(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in open(f"/proc/{p}/task/{t}/children").read().split()]
        except OSError:
            pass
    return pids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--mlserver", default=os.path.join(ROOT, ".bench-venv", "bin", "mlserver"))
    ap.add_argument("--ghz", default=os.path.join(ROOT, ".tools", "bin", "ghz"))
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--datatype", default="FP32", choices=("FP32", "FP64"))
    ap.add_argument("--row", type=int, default=0, help="heart_scale row sent in the bench request")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    args = ap.parse_args()
    args.build, args.mlserver, args.ghz, args.out = (os.path.abspath(p) for p in (args.build, args.mlserver, args.ghz, args.out))

    tool = lambda *p: os.path.join(args.build, "services", *p)  # noqa: E731
    xgb_train, repo_shim, me_shim = tool("model_execution", "me_xgb_train"), \
        tool("model_repository", "model_repository_shim"), tool("model_execution", "model_execution_shim")
    for p in (xgb_train, repo_shim, me_shim, args.mlserver, args.ghz):
        if not os.access(p, os.X_OK):
            sys.exit(f"bench: missing {p}")

    work = tempfile.mkdtemp(prefix="shimkit-mlbench.")
    procs = Procs()
    try:
        pb = stubs(os.path.join(work, "stubs"))
        pb2 = pb["inference.grpc_predict_v2_pb2"]
        heart = load_heart_scale()
        model = os.path.join(work, "model.json")
        subprocess.run([xgb_train, HEART_SCALE, str(N_FEATURES), str(len(heart)), model], check=True, timeout=120)
        model_sha = hashlib.sha256(open(model, "rb").read()).hexdigest()
        log(f"trained {model} ({os.path.getsize(model)} bytes, sha256 {model_sha[:12]}) on {len(heart)} rows")

        repo = start_shim(procs, "model_repository_shim",
                          [repo_shim, "--backend", "fs", "--data-dir", os.path.join(work, "repo")],
                          os.path.join(work, "repo.log"))
        version = register(pb, repo, model)
        shim = start_shim(procs, "model_execution_shim",
                          [me_shim, "--model-repository", repo, "--preload", MODEL, "--tmp-dir", work],
                          os.path.join(work, "me.log"))
        me_proc = procs.procs[-1][1]

        mdir = os.path.join(work, "mlserver")
        os.makedirs(os.path.join(mdir, MODEL))
        grpc_port, http_port = free_port(), free_port()
        settings = {"host": "127.0.0.1", "grpc_port": grpc_port, "http_port": http_port,
                    "metrics_endpoint": None, "debug": False}
        json.dump(settings, open(os.path.join(mdir, "settings.json"), "w"))
        json.dump({"name": MODEL, "implementation": "mlserver_xgboost.XGBoostModel",
                   "parameters": {"uri": model, "version": str(version)}},
                  open(os.path.join(mdir, MODEL, "model-settings.json"), "w"))
        mls_proc = procs.start("mlserver", [args.mlserver, "start", mdir], os.path.join(work, "mlserver.log"), cwd=mdir)
        mls = f"127.0.0.1:{grpc_port}"
        if not wait_ready(pb, mls, "mlserver", mls_proc):
            sys.exit(f"bench: MLServer did not get {MODEL} ready:\n{open(os.path.join(work, 'mlserver.log')).read()[-4000:]}")
        log(f"mlserver listening on {mls} (HTTP 127.0.0.1:{http_port}), {MODEL} ready")
        if not wait_ready(pb, shim, "shim", me_proc):
            sys.exit("bench: model_execution_shim did not get the model ready")

        row = heart[args.row][1]
        checks = [verify(pb, shim, mls, [row], dt) for dt in ("FP32", "FP64")]
        checks.append(verify(pb, shim, mls, [x for _, x in heart], args.datatype))
        log(f"predictions agree: {checks}")

        req = infer_request(pb2, [row], args.datatype)
        binfile = os.path.join(work, "request.bin")
        open(binfile, "wb").write(req.SerializeToString())

        results = {"shim": {}, "mlserver": {}}
        servers = {"shim": (shim, me_proc), "mlserver": (mls, mls_proc)}
        for name, (target, proc) in servers.items():
            results[name]["rss_mb_before"] = rss_mb(tree_pids(proc.pid))
            for c in CONCURRENCY:
                if args.warmup > 0:
                    ghz(args, target, binfile, c, args.warmup)
                r = summarize(ghz(args, target, binfile, c, args.duration))
                results[name][str(c)] = r
                log(f"{name} c={c}: {r['req_per_s']:.0f} req/s, p50 {r['p50_ms']:.3f} ms, "
                    f"p99 {r['p99_ms']:.3f} ms, {r['errors']} errors")
            results[name]["rss_mb_after"] = rss_mb(tree_pids(proc.pid))
        ratios = {str(c): results["shim"][str(c)]["req_per_s"] / results["mlserver"][str(c)]["req_per_s"]
                  for c in CONCURRENCY}
    finally:
        procs.stop()
        shutil.rmtree(work, ignore_errors=True)

    vers = {}
    for pkg in ("mlserver", "mlserver-xgboost", "xgboost", "grpcio"):
        py = os.path.join(os.path.dirname(args.mlserver), "python")
        r = subprocess.run([py, "-c", f"import importlib.metadata as m; print(m.version('{pkg}'))"],
                           capture_output=True, text=True)
        vers[pkg] = r.stdout.strip() or None
    report = {
        "benchmark": "model_infer", "issue": 4,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "note": "2 cores shared with other work (servers and ghz on the same cores): numbers are noisy"},
        "model": {"file": "model.json from me_xgb_train (XGBoost C API), binary:logistic, 20 trees of depth 3, "
                          "heart_scale 270 rows x 13 features", "sha256": model_sha},
        "request": {"model_name": MODEL, "input": "features", "datatype": args.datatype, "shape": [1, N_FEATURES],
                    "contents": f"{args.datatype.lower()}_contents", "outputs": "none requested (server defaults: "
                    "shim 'label', MLServer 'predict')", "heart_scale_row": args.row,
                    "bytes": len(req.SerializeToString())},
        "verification": checks,
        "load": {"tool": "ghz", "connections": 1, "concurrency": list(CONCURRENCY), "warmup_s": args.warmup,
                 "duration_s": args.duration},
        "servers": {"shim": "model_execution_shim (model fetched from model_repository_shim, fs back end)",
                    "mlserver": f"MLServer {vers.get('mlserver')} + mlserver-xgboost {vers.get('mlserver-xgboost')} "
                                f"(xgboost {vers.get('xgboost')}), default parallel_workers, metrics off, debug off"},
        "versions": vers, "results": results, "ratio_shim_over_mlserver_req_per_s": ratios,
        "target": {"ratio_at_least": TARGET_RATIO,
                   "met": {c: r >= TARGET_RATIO for c, r in ratios.items()}},
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "model_infer.json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "model_infer.md"), "w") as f:
        f.write(markdown(report))
    log(f"wrote {args.out}/model_infer.json and model_infer.md; ratio shim/MLServer: "
        + ", ".join(f"c={c}: {r:.1f}x" for c, r in ratios.items()))


def markdown(r):
    res, lines = r["results"], []
    lines += ["# ModelInfer: model_execution_shim vs MLServer (XGBoost)", "",
              f"{r['date']}, {r['machine']['cpus']} CPUs ({r['machine']['platform']}). "
              f"{r['machine']['note']}.", "",
              f"Model: {r['model']['file']} (sha256 `{r['model']['sha256'][:16]}…`), the same file served by both.",
              f"Request: `ModelInfer` `{r['request']['model_name']}`, input `features` {r['request']['datatype']} "
              f"[1, 13] in `{r['request']['contents']}` (heart_scale row {r['request']['heart_scale_row']}, "
              f"{r['request']['bytes']} bytes), {r['request']['outputs']}. Both servers accept this exact request "
              "(FP32 and FP64 alike).",
              f"Load: ghz, 1 connection, {r['load']['warmup_s']:g} s warm-up then {r['load']['duration_s']:g} s "
              "per concurrency.", f"MLServer: {r['servers']['mlserver']}.", "",
              "| server | concurrency | req/s | p50 ms | p99 ms | errors |", "|---|---:|---:|---:|---:|---:|"]
    for name in ("shim", "mlserver"):
        for c in r["load"]["concurrency"]:
            x = res[name][str(c)]
            lines.append(f"| {name} | {c} | {x['req_per_s']:.0f} | {x['p50_ms']:.3f} | {x['p99_ms']:.3f} | {x['errors']} |")
    lines += ["", "| concurrency | shim / MLServer req/s | target ≥ 10× |", "|---:|---:|---|"]
    for c, ratio in r["ratio_shim_over_mlserver_req_per_s"].items():
        lines.append(f"| {c} | {ratio:.1f}× | {'met' if ratio >= r['target']['ratio_at_least'] else 'NOT met'} |")
    lines += ["", "RSS (MB, server process tree, before → after load): "
              + ", ".join(f"{n} {res[n]['rss_mb_before']} → {res[n]['rss_mb_after']}" for n in ("shim", "mlserver")),
              "", "Predictions checked equal before loading: "
              + "; ".join(f"{v['rows']} row(s) {v['datatype']}: max |ΔP(class 1)| {v['max_abs_diff_p1']:.2e}, "
                          f"labels agree {v['labels_agree']}" for v in r["verification"])
              + ". MLServer's XGBoost runtime loads a booster saved without scikit-learn metadata as an "
              "XGBRegressor, so its `predict` output is P(class 1), compared with the shim's `probability[:, 1]`; "
              "the shim's `label` is compared with P > 0.5.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
