#!/usr/bin/env python3
"""The ML-stack demo's client (scripts/demo.sh runs it; tests/e2e/python/
test_demo_stack.py imports it). Stubs are generated at run time from
proto/ml/v1 and proto/inference with grpc_tools.protoc into a temp dir.

    demo_stack.py load  FEATURE_STORE [--data FILE] [--train N]
        heart_scale (LIBSVM format, sparse) into two feature views of the
        FeatureStore: heart_train (the first N rows, default 200) and
        heart_holdout (the rest)
    demo_stack.py train TRAINING MODEL ALGORITHM [KEY=VALUE...]
        SubmitJob on heart_train (label column "label"), then WatchJob to the end
    demo_stack.py infer INFERENCE FEATURE_STORE MODEL [FIRST COUNT]
        RepositoryModelLoad, then the held-out rows (entities pFIRST.. of
        heart_holdout, default p200..p269) from GetOnlineFeatures through
        ModelInfer; prints the accuracy
    grpcurl ... ModelRepository/ListVersions | demo_stack.py versions
        one line per version of that JSON

Every number printed comes from the services' replies.
"""
import atexit
import importlib
import os
import shutil
import sys
import tempfile
import time

import grpc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PROTO_ROOT = os.path.join(ROOT, "proto")
HEART_SCALE = "/usr/share/doc/liblinear-tools/examples/heart_scale"
N_FEATURES = 13
FEATURES = [f"f{i}" for i in range(1, N_FEATURES + 1)]
TRAIN_VIEW, HOLDOUT_VIEW, LABEL = "heart_train", "heart_holdout", "label"
ENTITY = "patient"
BATCH = 50

_pb = None


def stubs():
    """A namespace of generated modules: fs, fs_grpc, tr, tr_grpc, ip, ip_grpc (generated once per process)."""
    global _pb
    if _pb is not None:
        return _pb
    import grpc_tools
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="shimkit-demo-stubs-")
    atexit.register(shutil.rmtree, out, True)
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = [os.path.join(PROTO_ROOT, "ml", "v1", f)
             for f in ("common.proto", "feature_store.proto", "model_repository.proto", "training.proto")]
    files.append(os.path.join(PROTO_ROOT, "inference", "grpc_predict_v2.proto"))
    if protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{wkt}", f"--python_out={out}",
                    f"--grpc_python_out={out}", *files]) != 0:
        sys.exit("demo_stack: grpc_tools.protoc failed on proto/ml/v1 and proto/inference")
    sys.path.insert(0, out)

    class PB:
        fs = importlib.import_module("ml.v1.feature_store_pb2")
        fs_grpc = importlib.import_module("ml.v1.feature_store_pb2_grpc")
        tr = importlib.import_module("ml.v1.training_pb2")
        tr_grpc = importlib.import_module("ml.v1.training_pb2_grpc")
        ip = importlib.import_module("inference.grpc_predict_v2_pb2")
        ip_grpc = importlib.import_module("inference.grpc_predict_v2_pb2_grpc")
    _pb = PB
    return PB


def channel(target):
    ch = grpc.insecure_channel(target)
    grpc.channel_ready_future(ch).result(timeout=20)
    return ch


def read_libsvm(path=HEART_SCALE):
    """[(label, {feature index (1-based): value})] in file order; absent features are left out."""
    if not os.path.exists(path):
        sys.exit(f"demo_stack: {path} is missing (Debian's liblinear-tools ships it; scripts/setup.sh installs it)")
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts:
                rows.append((int(float(parts[0])), {int(k): float(v) for k, v in (p.split(":") for p in parts[1:])}))
    return rows


def load(fs_target, path=HEART_SCALE, n_train=200, say=print):
    """Writes rows[:n_train] to heart_train and the rest to heart_holdout; returns (n_train, n_holdout)."""
    pb = stubs()
    rows = read_libsvm(path)
    if not 0 < n_train < len(rows):
        sys.exit(f"demo_stack: --train {n_train}: {path} has {len(rows)} rows")
    say(f"read {len(rows)} rows from {path} (label +1/-1, {N_FEATURES} features, sparse)")
    specs = [pb.fs.FeatureSpec(name=LABEL, type="FEATURE_TYPE_INT64")] + \
            [pb.fs.FeatureSpec(name=n, type="FEATURE_TYPE_DOUBLE") for n in FEATURES]
    with channel(fs_target) as ch:
        stub = pb.fs_grpc.FeatureStoreStub(ch)
        for view, part, first in ((TRAIN_VIEW, rows[:n_train], 0), (HOLDOUT_VIEW, rows[n_train:], n_train)):
            stub.CreateFeatureView(pb.fs.CreateFeatureViewRequest(
                view=pb.fs.FeatureView(name=view, entity_key=ENTITY, features=specs)), timeout=10)
            batches = []
            for b in range(0, len(part), BATCH):
                out = []
                for i, (y, x) in enumerate(part[b:b + BATCH], first + b):
                    values = {LABEL: pb.fs.FeatureValue(int64_value=y)}
                    values.update({f"f{k}": pb.fs.FeatureValue(double_value=v) for k, v in x.items()})
                    out.append(pb.fs.FeatureRow(entity_key=f"p{i:03d}", values=values))
                batches.append(pb.fs.WriteRowsRequest(view=view, rows=out))

            def sent():
                done = 0
                for req in batches:
                    done += len(req.rows)
                    say(f"  {view}: WriteRows batch of {len(req.rows)} rows ({done}/{len(part)})")
                    yield req
            n = stub.WriteRows(sent(), timeout=60).rows_written
            say(f"{view}: {n} rows written (entities p{first:03d}..p{first + len(part) - 1:03d})")
        views = stub.ListFeatureViews(pb.fs.ListFeatureViewsRequest(), timeout=10).views
        say("views now in the store: " + ", ".join(f"{v.name} ({len(v.features)} features)" for v in views))
    return n_train, len(rows) - n_train


def train(tr_target, model, algorithm, hp, say=print):
    """Submits a job on heart_train and watches it to the end; returns the final Job (raises if it did not succeed)."""
    pb = stubs()
    with channel(tr_target) as ch:
        stub = pb.tr_grpc.TrainingStub(ch)
        job = stub.SubmitJob(pb.tr.SubmitJobRequest(
            algorithm=algorithm, hyperparameters=hp, model_name=model,
            feature_view=pb.tr.FeatureViewDataset(view=TRAIN_VIEW, label_column=LABEL)), timeout=30)
        say(f"SubmitJob -> {job.id} {pb.tr.JobState.Name(job.state)} "
            f"({algorithm}, {', '.join(f'{k}={v}' for k, v in sorted(hp.items())) or 'defaults'})")
        t0 = time.monotonic()
        last, seen = job, None
        for ev in stub.WatchJob(pb.tr.WatchJobRequest(id=job.id), timeout=300):
            last = ev.job
            if (ev.progress, ev.job.state, ev.message) == seen:
                continue  # a change this view does not show (e.g. a timestamp)
            seen = (ev.progress, ev.job.state, ev.message)
            bar = "#" * int(round(ev.progress * 20))
            say(f"  [{bar:<20}] {ev.progress * 100:5.1f}%  {pb.tr.JobState.Name(ev.job.state):<19} "
                f"{ev.message}  (+{time.monotonic() - t0:.2f} s)")
        st = pb.tr.JobState.Name(last.state)
        if st != "JOB_STATE_SUCCEEDED":
            raise RuntimeError(f"{last.id} ended {st}: {last.failure_reason}")
        m = last.metrics
        say(f"{last.id} SUCCEEDED: model {last.model_name} version {last.model_version}; "
            f"trained on {int(m['rows'])} rows x {int(m['features'])} features, "
            f"{int(m['classes'])} classes, train_accuracy {m['train_accuracy']:.4f}")
        return last


def holdout(fs_target, n_first, n, say=print):
    """[(label, [13 floats])] of the held-out entities, read back with GetOnlineFeatures (absent = 0)."""
    pb = stubs()
    keys = [f"p{i:03d}" for i in range(n_first, n_first + n)]
    with channel(fs_target) as ch:
        resp = pb.fs_grpc.FeatureStoreStub(ch).GetOnlineFeatures(
            pb.fs.GetOnlineFeaturesRequest(view=HOLDOUT_VIEW, entity_keys=keys, feature_names=[LABEL] + FEATURES),
            timeout=30)
    present = pb.fs.ValueStatus.Value("VALUE_STATUS_PRESENT")
    rows = []
    for vec in resp.vectors:
        vals = [v.int64_value if j == 0 else v.double_value if s == present else 0.0
                for j, (v, s) in enumerate(zip(vec.values, vec.statuses))]
        if vec.statuses[0] != present:
            raise RuntimeError(f"{vec.entity_key} has no label in {HOLDOUT_VIEW}")
        rows.append((float(vals[0]), [float(v) for v in vals[1:]]))
    say(f"GetOnlineFeatures({HOLDOUT_VIEW}, {len(keys)} entities {keys[0]}..{keys[-1]}) "
        f"-> {len(rows)} vectors of {len(resp.feature_names)} values")
    return rows


def infer(ie_target, fs_target, model, n_first, n, say=print):
    """Loads model into model execution, runs ModelInfer on the held-out rows; returns (accuracy, predicted labels)."""
    pb = stubs()
    rows = holdout(fs_target, n_first, n, say)
    with channel(ie_target) as ch:
        stub = pb.ip_grpc.GRPCInferenceServiceStub(ch)
        t0 = time.monotonic()
        stub.RepositoryModelLoad(pb.ip.RepositoryModelLoadRequest(model_name=model), timeout=60)
        md = stub.ModelMetadata(pb.ip.ModelMetadataRequest(name=model), timeout=10)
        say(f"RepositoryModelLoad({model}) in {(time.monotonic() - t0) * 1000:.0f} ms -> loaded: "
            f"platform {md.platform}, versions {list(md.versions)}, input "
            + ", ".join(f"{t.name} {t.datatype} {list(t.shape)}" for t in md.inputs))
        t = pb.ip.ModelInferRequest.InferInputTensor(name="features", datatype="FP64", shape=[len(rows), N_FEATURES])
        t.contents.fp64_contents.extend(v for _, x in rows for v in x)
        t0 = time.monotonic()
        resp = stub.ModelInfer(pb.ip.ModelInferRequest(model_name=model, id=f"demo-{model}", inputs=[t]), timeout=60)
        ms = (time.monotonic() - t0) * 1000
    out = next(o for o in resp.outputs if o.name == "label")
    labels = list(out.contents.fp64_contents)
    if len(labels) != len(rows):
        raise RuntimeError(f"ModelInfer answered {len(labels)} labels for {len(rows)} rows")
    right = sum(1 for p, (y, _) in zip(labels, rows) if p == y)
    say(f"ModelInfer(id {resp.id}, {len(rows)} rows) in {ms:.1f} ms -> {resp.model_name} version "
        f"{resp.model_version}, output label {out.datatype} {list(out.shape)}")
    say("  first 10: predicted " + " ".join(f"{p:+.0f}" for p in labels[:10]))
    say("            actual    " + " ".join(f"{y:+.0f}" for y, _ in rows[:10]))
    acc = right / len(rows)
    say(f"accuracy of {model} on the {len(rows)} held-out rows: {right}/{len(rows)} = {acc:.4f}")
    return acc, labels


def versions(text, say=print):
    """Summarizes ListVersions JSON (as grpcurl prints it), one line per version."""
    import json
    for v in json.loads(text).get("versions", []):
        t = v.get("tags", {})
        say(f"  {v['modelName']} version {v['version']}: {v.get('status')}, framework {v.get('framework')}, "
            f"{v.get('sizeBytes')} bytes, sha256 {v.get('sha256', '')[:12]}..., created {v.get('createdAt')}")
        say(f"    tags: training_job={t.get('training_job')} feature_view={t.get('feature_view')} "
            f"rows={t.get('rows')} train_accuracy={t.get('train_accuracy')} "
            + " ".join(f"{k}={x}" for k, x in sorted(t.items()) if k.startswith("hp.")))


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == "load":
            path, n_train, rest = HEART_SCALE, 200, args[1:]
            while rest:
                if rest[0] == "--data":
                    path, rest = rest[1], rest[2:]
                elif rest[0] == "--train":
                    n_train, rest = int(rest[1]), rest[2:]
                else:
                    sys.exit(f"demo_stack load: unknown argument {rest[0]!r}")
            load(args[0], path, n_train)
        elif cmd == "train":
            hp = dict(a.split("=", 1) for a in args[3:])
            train(args[0], args[1], args[2], hp)
        elif cmd == "infer":
            n_train, n_holdout = 200, 70
            if len(args) > 3:
                n_train, n_holdout = int(args[3]), int(args[4])
            infer(args[0], args[1], args[2], n_train, n_holdout)
        elif cmd == "versions":
            versions(sys.stdin.read())
        else:
            sys.exit(f"demo_stack: unknown command {cmd!r} (load, train, infer, versions)")
    except grpc.RpcError as e:
        sys.exit(f"demo_stack {cmd}: {e.code().name}: {e.details()}")
    except RuntimeError as e:
        sys.exit(f"demo_stack {cmd}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
