"""Bad datasets and an unreachable repository end the job FAILED with the
reason (SubmitJob itself succeeds); bad requests are refused at SubmitJob
(INVALID_ARGUMENT), unknown jobs are NOT_FOUND. Same on every back end."""

import grpc
import pytest

from contractkit import free_address
from trclient import BACKENDS, finish, put_view, state, submit

ROWS = [(1.0, [0.5, 1.0]), (-1.0, [-0.5, -1.0]), (1.0, [0.7, 0.2]), (-1.0, [-0.1, -0.9])]


def failed(pb, tr, job, *words):
    done = finish(pb, tr, job.id)
    assert state(pb, done) == "JOB_STATE_FAILED", done
    for w in words:
        assert w in done.failure_reason, done.failure_reason
    assert done.model_version == 0
    return done


@pytest.fixture(scope="module")
def small_view(pb, feature_store):
    put_view(pb, feature_store, "small", [(1, [0.5] * 13), (-1, [-0.5] * 13)])
    return "small"


def test_empty_dataset(pb, training):
    failed(pb, training, submit(pb, training, "empty", rows=[]), "empty")


def test_different_feature_counts(pb, training):
    rows = ROWS + [(1.0, [0.1, 0.2, 0.3])]
    failed(pb, training, submit(pb, training, "ragged", rows=rows), "different feature counts", "row 5")


def test_single_class(pb, training):
    rows = [(1.0, x) for _, x in ROWS]
    failed(pb, training, submit(pb, training, "oneclass", rows=rows), "single class")


def test_missing_label_column(pb, training, small_view):
    failed(pb, training, submit(pb, training, "nolabel", view=small_view, label="outcome"),
           'no label column "outcome"', "f13")


def test_unknown_view_and_feature(pb, training, small_view):
    failed(pb, training, submit(pb, training, "noview", view="no_such_view"), '"no_such_view" does not exist')
    failed(pb, training, submit(pb, training, "nofeat", view=small_view, names=["f1", "f99"]), '"f99"')


def test_unreachable_repository(pb, new_training, feature_store):
    dead = free_address()
    for backend in ("liblinear", "libsvm"):
        tr = new_training(backend, dead, feature_store.target)
        done = failed(pb, tr, submit(pb, tr, "lost", rows=ROWS), "ModelRepository", dead, "unreachable")
        assert done.metrics["rows"] == 4  # it trained; only registering failed


def test_not_found(pb, training):
    for call, req in ((training.stub.GetJob, pb.tr.GetJobRequest(id="job-999")),
                      (training.stub.CancelJob, pb.tr.CancelJobRequest(id="nope"))):
        with pytest.raises(grpc.RpcError) as e:
            call(req, timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        list(training.stub.WatchJob(pb.tr.WatchJobRequest(id="job-0"), timeout=10))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("case", ["other_backend", "unknown_algorithm", "unknown_hp", "bad_value", "no_dataset",
                                  "no_model"])
def test_invalid_argument(pb, training, case):
    other = "libsvm" if training.backend == "liblinear" else "liblinear"
    bad_value = {"liblinear": {"solver": "magic"}, "libsvm": {"kernel": "magic"},
                 "xgboost": {"objective": "magic"}}[training.backend]
    kwargs = {"other_backend": dict(algorithm=other, rows=ROWS),
              "unknown_algorithm": dict(algorithm="deepnet", rows=ROWS),
              "unknown_hp": dict(hp={"learning_rate": "0.1"}, rows=ROWS),
              "bad_value": dict(hp=bad_value, rows=ROWS),
              "no_dataset": dict(),
              "no_model": dict(rows=ROWS)}[case]
    model = "" if case == "no_model" else "m"
    with pytest.raises(grpc.RpcError) as e:
        submit(pb, training, model, **kwargs)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, e.value.details()
    assert e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        submit(pb, training, "m", rows=ROWS, hp={"C": "-1"})
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "C" in e.value.details()


XGB_BAD = [({"num_round": "0"}, "num_round"), ({"num_round": "1e3"}, "num_round"), ({"max_depth": "65"}, "max_depth"),
           ({"eta": "0"}, "eta"), ({"eta": "1.5"}, "eta"), ({"subsample": "0"}, "subsample"),
           ({"subsample": "2"}, "subsample"), ({"lambda": "-1"}, "lambda"), ({"alpha": "x"}, "alpha"),
           ({"colsample_bytree": "nan"}, "colsample_bytree"), ({"tree_method": "gpu_hist"}, "tree_method"),
           ({"nthread": "0"}, "nthread"), ({"objective": "reg:squarederror"}, "objective"),
           ({"num_class": "2"}, "num_class")]


@pytest.mark.skipif("xgboost" not in BACKENDS, reason="training_shim built without libxgboost-dev")
def test_xgboost_bad_hyperparameters(pb, new_training, repository):
    tr = new_training("xgboost", repository.target)
    for hp, key in XGB_BAD:
        with pytest.raises(grpc.RpcError) as e:
            submit(pb, tr, "m", rows=ROWS, hp=hp)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (hp, e.value.details())
        assert key in e.value.details(), (hp, e.value.details())
    # Every key at a valid value is taken.
    ok = {"objective": "binary:hinge", "num_round": "2", "max_depth": "2", "eta": "1", "gamma": "0",
          "min_child_weight": "0", "subsample": "0.5", "colsample_bytree": "1", "lambda": "0", "alpha": "0.5",
          "scale_pos_weight": "2", "tree_method": "HIST", "seed": "7", "nthread": "1"}
    done = finish(pb, tr, submit(pb, tr, "allkeys", rows=ROWS, hp=ok).id)
    assert state(pb, done) == "JOB_STATE_SUCCEEDED", done.failure_reason


@pytest.mark.skipif("xgboost" not in BACKENDS, reason="training_shim built without libxgboost-dev")
def test_xgboost_binary_objective_on_three_classes(pb, new_training, repository):
    tr = new_training("xgboost", repository.target)
    rows = ROWS + [(2.0, [3.0, 3.0])]
    failed(pb, tr, submit(pb, tr, "three", rows=rows, hp={"objective": "binary:logistic"}),
           "binary:logistic needs 2 classes", "3")
