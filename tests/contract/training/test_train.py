"""Training end to end on a real data set, over every back end: liblinear's
heart_scale (270 patients, 13 features, labels +1/-1) loaded into the
FeatureStore, trained from the feature view, registered in the
ModelRepository; and the same rows sent inline."""
import itertools
import json

import pytest

from trclient import BACKENDS, FINAL, download, finish, load_heart_scale, put_view, sha256, state, submit, watch

FIRST_LINE = {"liblinear": b"solver_type ", "libsvm": b"svm_type c_svc", "xgboost": b"{"}
HP = {"liblinear": {"solver": "l2r_lr", "C": "1", "eps": "0.01"},
      "libsvm": {"kernel": "linear", "C": "1"},
      "xgboost": {"max_depth": "3", "eta": "0.3", "num_round": "20", "subsample": "1", "lambda": "1"}}
_views = itertools.count()


@pytest.fixture(scope="module")
def heart(pb, feature_store):
    rows = load_heart_scale()
    assert len(rows) == 270 and sum(1 for y, _ in rows if y == 1) == 120
    put_view(pb, feature_store, "heart_scale", rows)
    return rows


def check_registered(pb, repository, training, job, n_features):
    assert job.model_version >= 1
    mv, data = download(pb, repository, job.model_name, job.model_version)
    assert mv.framework == training.backend
    assert mv.sha256 == sha256(data) and mv.size_bytes == len(data)
    assert data.startswith(FIRST_LINE[training.backend]), data[:40]
    assert [(t.name, t.datatype, list(t.shape)) for t in mv.inputs] == [("features", "FP64", [-1, n_features])]
    assert [(t.name, t.datatype, list(t.shape)) for t in mv.outputs] == [("label", "FP64", [-1])]
    got = pb.mr.GetVersionRequest(ref=pb.mr.VersionRef(model_name=job.model_name, version=job.model_version))
    assert repository.stub.GetVersion(got, timeout=10).sha256 == mv.sha256
    return mv


def test_heart_scale_from_feature_view(pb, training, repository, heart):
    model = f"heart-{training.backend}"
    job = submit(pb, training, model, view="heart_scale", hp=HP[training.backend])
    assert state(pb, job) in ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING") and job.id
    events = watch(pb, training, job.id)
    done = events[-1].job
    assert state(pb, done) == "JOB_STATE_SUCCEEDED", done.failure_reason
    assert done.metrics["rows"] == 270
    # What a linear model gets on heart_scale (liblinear's own tools give ~0.84).
    assert 0.75 < done.metrics["train_accuracy"] <= 1.0
    mv = check_registered(pb, repository, training, done, 13)
    assert mv.tags["feature_names"] == ",".join(f"f{i}" for i in range(1, 14))
    assert mv.tags["training_job"] == job.id and mv.tags["algorithm"] == training.backend
    if training.backend == "xgboost":
        # The model predicts class indexes: 0 is heart_scale's -1, 1 its +1.
        assert mv.tags["class_labels"] == "-1,1" and mv.tags["hp.num_round"] == "20"
        # Progress per round (WatchJob may skip some when rounds come faster than it sends).
        rounds = [e for e in events if e.message.startswith("xgboost round ")]
        numbers = [int(e.message.split()[2]) for e in rounds]
        assert rounds and numbers == sorted(numbers), [e.message for e in events]
        assert all(e.message.endswith(" of 20 (binary:logistic)") and 0.2 < e.progress < 0.8 for e in rounds)
    else:
        assert "class_labels" not in mv.tags
    assert done.started_at.seconds and done.finished_at.seconds >= done.started_at.seconds
    again = training.stub.GetJob(pb.tr.GetJobRequest(id=job.id), timeout=10)
    assert again.model_version == done.model_version and state(pb, again) == "JOB_STATE_SUCCEEDED"
    # A second job registers a second version of the same model.
    job2 = submit(pb, training, model, view="heart_scale", names=["f1", "f3", "f13"])
    done2 = finish(pb, training, job2.id)
    assert state(pb, done2) == "JOB_STATE_SUCCEEDED", done2.failure_reason
    assert done2.model_version == done.model_version + 1
    mv2 = check_registered(pb, repository, training, done2, 3)
    assert mv2.tags["feature_names"] == "f1,f3,f13"


def test_inline_rows(pb, training, repository):
    rows = load_heart_scale()
    job = submit(pb, training, f"inline-{training.backend}", rows=rows, hp=HP[training.backend])
    done = finish(pb, training, job.id)
    assert state(pb, done) == "JOB_STATE_SUCCEEDED", done.failure_reason
    assert 0.75 < done.metrics["train_accuracy"] <= 1.0 and done.metrics["rows"] == 270
    mv = check_registered(pb, repository, training, done, 13)
    assert mv.tags["feature_names"] == ",".join(f"f{i}" for i in range(1, 14))


def test_watch_order(pb, training):
    """States only move forward, progress never goes back, and the stream ends at the end."""
    rows = load_heart_scale()
    job = submit(pb, training, f"watch-{training.backend}", rows=rows)
    events = watch(pb, training, job.id)
    order = ["JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]
    seen = [state(pb, e.job) for e in events]
    assert seen[-1] == "JOB_STATE_SUCCEEDED" and all(s in order for s in seen), seen
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen), seen
    assert [e.progress for e in events] == sorted(e.progress for e in events)
    assert events[-1].progress == 1.0
    # Watching a finished job: one event, the end.
    again = watch(pb, training, job.id)
    assert len(again) == 1 and state(pb, again[0].job) in FINAL


xgb_only = pytest.mark.skipif("xgboost" not in BACKENDS, reason="training_shim built without libxgboost-dev")


@xgb_only
def test_xgboost_artifact(pb, new_training, repository, heart):
    """The artifact is XGBoost's JSON model: binary:logistic, num_round trees of at most max_depth."""
    tr = new_training("xgboost", repository.target, None)
    job = submit(pb, tr, "heart-xgb-json", rows=heart, hp={"num_round": "7", "max_depth": "2", "lambda": "2"})
    done = finish(pb, tr, job.id)
    assert state(pb, done) == "JOB_STATE_SUCCEEDED", done.failure_reason
    mv, data = download(pb, repository, done.model_name, done.model_version)
    model = json.loads(data)
    learner = model["learner"]
    assert learner["objective"]["name"] == "binary:logistic"
    assert learner["learner_model_param"]["num_feature"] == "13"
    trees = learner["gradient_booster"]["model"]["trees"]
    assert len(trees) == 7
    assert mv.framework == "xgboost" and mv.tags["class_labels"] == "-1,1"


@xgb_only
def test_xgboost_three_classes(pb, new_training, repository):
    """More than two classes: multi:softprob with num_class; labels 3, 7, 9 become indexes 0, 1, 2."""
    rows = [(float(c), [c + 0.1 * (i % 5), (i % 3) * 0.5]) for i in range(60) for c in (3, 7, 9)]
    tr = new_training("xgboost", repository.target, None)
    done = finish(pb, tr, submit(pb, tr, "three-xgb", rows=rows).id)
    assert state(pb, done) == "JOB_STATE_SUCCEEDED", done.failure_reason
    assert done.metrics["classes"] == 3 and done.metrics["train_accuracy"] > 0.95
    mv, data = download(pb, repository, done.model_name, done.model_version)
    learner = json.loads(data)["learner"]
    assert learner["objective"]["name"] == "multi:softprob"
    assert learner["learner_model_param"]["num_class"] == "3"
    assert mv.tags["class_labels"] == "3,7,9"
