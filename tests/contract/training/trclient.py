"""Client-side helpers of the Training contract suite: load heart_scale into
the feature store, submit jobs, watch them to the end, fetch artifacts."""
import hashlib
import os

HEART_SCALE = "/usr/share/doc/liblinear-tools/examples/heart_scale"
N_FEATURES = 13
FINAL = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")
# Every back end of this build: xgboost when training_shim has it (CMake sets the variable).
BACKENDS = ["liblinear", "libsvm"] + (["xgboost"] if os.environ.get("SHIMKIT_TRAINING_XGBOOST") else [])


def load_heart_scale():
    """[(label, [13 floats])]: the sparse LIBSVM file made dense (absent = 0)."""
    assert os.path.exists(HEART_SCALE), f"{HEART_SCALE} is missing: install liblinear-tools"
    rows = []
    with open(HEART_SCALE) as f:
        for line in f:
            parts = line.split()
            if parts:
                x = [0.0] * N_FEATURES
                for p in parts[1:]:
                    k, v = p.split(":")
                    x[int(k) - 1] = float(v)
                rows.append((float(parts[0]), x))
    return rows


def put_view(pb, fs, name, rows, label="label", sparse=True):
    """A view name(label INT64, f1..f13 DOUBLE) with rows; sparse leaves zeros out, as the file does."""
    feats = [pb.fs.FeatureSpec(name=label, type="FEATURE_TYPE_INT64")] + \
            [pb.fs.FeatureSpec(name=f"f{i}", type="FEATURE_TYPE_DOUBLE") for i in range(1, N_FEATURES + 1)]
    fs.stub.CreateFeatureView(pb.fs.CreateFeatureViewRequest(
        view=pb.fs.FeatureView(name=name, entity_key="patient", features=feats)), timeout=10)
    out = []
    for i, (y, x) in enumerate(rows):
        values = {label: pb.fs.FeatureValue(int64_value=int(y))}
        for j, v in enumerate(x):
            if v != 0 or not sparse:
                values[f"f{j + 1}"] = pb.fs.FeatureValue(double_value=v)
        out.append(pb.fs.FeatureRow(entity_key=f"p{i:03d}", values=values))
    batches = [pb.fs.WriteRowsRequest(view=name, rows=out[i:i + 100]) for i in range(0, len(out), 100)]
    assert fs.stub.WriteRows(iter(batches), timeout=60).rows_written == len(rows)


def submit(pb, tr, model, view=None, label="label", rows=None, names=(), algorithm=None, hp=None, timeout=30):
    req = pb.tr.SubmitJobRequest(algorithm=algorithm if algorithm is not None else tr.backend,
                                 hyperparameters=hp or {}, model_name=model)
    if view is not None:
        req.feature_view.CopyFrom(pb.tr.FeatureViewDataset(view=view, label_column=label, feature_names=names))
    elif rows is not None:
        req.inline_rows.CopyFrom(pb.tr.InlineDataset(
            feature_names=names, rows=[pb.tr.LabeledRow(label=y, features=x) for y, x in rows]))
    return tr.stub.SubmitJob(req, timeout=timeout)


def watch(pb, tr, job_id, timeout=300):
    """Every JobEvent until the stream ends."""
    return list(tr.stub.WatchJob(pb.tr.WatchJobRequest(id=job_id), timeout=timeout))


def finish(pb, tr, job_id, timeout=300):
    events = watch(pb, tr, job_id, timeout)
    assert events, "WatchJob sent nothing"
    return events[-1].job


def state(pb, job):
    return pb.tr.JobState.Name(job.state)


def download(pb, repo, model, version):
    """(ModelVersion, artifact bytes)."""
    mv, data = None, b""
    ref = pb.mr.VersionRef(model_name=model, version=version)
    for chunk in repo.stub.DownloadArtifact(pb.mr.DownloadArtifactRequest(ref=ref), timeout=60):
        if chunk.HasField("version"):
            mv = chunk.version
        data += chunk.data
    return mv, data


def sha256(data):
    return hashlib.sha256(data).hexdigest()
