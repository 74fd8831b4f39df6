"""XGBoost models, when the shim is built with libxgboost-dev: a
binary:logistic booster trained on heart_scale's first 200 rows (by
me_xgb_train, through XGBoost's own C API), registered in the
ModelRepository with framework "xgboost", served by the same shim and scored
on the 70 held-out rows; and the same end to end through the Training
service (training_shim --backend xgboost, when built with it)."""
import os
import subprocess

import pytest

from oip import accuracy, infer_request, output, register
from trclient import BACKENDS, HEART_SCALE, finish, state, submit

XGB_TRAIN = os.environ.get("SHIMKIT_XGB_TRAIN")
pytestmark = pytest.mark.skipif(not XGB_TRAIN, reason="built without libxgboost-dev: no XGBoost runtime")


def test_xgboost_heart_scale(ip, pb, inference, repository, heart, tmp_path):
    path = tmp_path / "heart-xgboost.json"
    subprocess.run([XGB_TRAIN, HEART_SCALE, "13", "200", str(path)], check=True, timeout=120)
    version = register(pb, repository, "heart-xgboost", path.read_bytes(), "xgboost")
    md = inference.stub.ModelMetadata(ip.pb2.ModelMetadataRequest(name="heart-xgboost"), timeout=60)
    assert md.platform == "xgboost" and list(md.versions) == [str(version)]
    assert ("probability", "FP64", [-1, 2]) in [(t.name, t.datatype, list(t.shape)) for t in md.outputs]

    test = heart[1]
    resp = inference.stub.ModelInfer(infer_request(ip, "heart-xgboost", test, outputs=("label", "probability")),
                                     timeout=60)
    shape, labels = output(resp, "label")
    assert shape == [70] and set(labels) <= {0.0, 1.0}
    # binary:logistic classes are 0/1: class 1 is heart_scale's +1.
    assert accuracy([1.0 if v == 1 else -1.0 for v in labels], test) > 0.75
    pshape, probs = output(resp, "probability")
    assert pshape == [70, 2] and all(abs(probs[2 * i] + probs[2 * i + 1] - 1) < 1e-6 for i in range(70))
    assert all((probs[2 * i + 1] > 0.5) == (labels[i] == 1) for i in range(70))


@pytest.mark.skipif("xgboost" not in BACKENDS, reason="training_shim built without libxgboost-dev")
def test_trained_by_training_shim(ip, pb, inference, repository, feature_store, models, heart, new_training):
    """training_shim --backend xgboost on the feature view of the first 200 rows (models made it), the
    version served by model_execution_shim: its labels are indexes into the class_labels tag."""
    tr = new_training("xgboost", repository.target, feature_store.target)
    done = finish(pb, tr, submit(pb, tr, "heart-xgb-trained", view="heart_train",
                                 hp={"num_round": "20", "max_depth": "3", "eta": "0.3"}).id)
    assert state(pb, done) == "JOB_STATE_SUCCEEDED", done.failure_reason
    assert done.metrics["train_accuracy"] > 0.75
    md = inference.stub.ModelMetadata(ip.pb2.ModelMetadataRequest(name="heart-xgb-trained"), timeout=60)
    assert md.platform == "xgboost" and list(md.versions) == [str(done.model_version)]
    got = pb.mr.GetVersionRequest(ref=pb.mr.VersionRef(model_name="heart-xgb-trained", version=done.model_version))
    classes = [float(c) for c in repository.stub.GetVersion(got, timeout=10).tags["class_labels"].split(",")]
    assert classes == [-1.0, 1.0]

    test = heart[1]
    resp = inference.stub.ModelInfer(infer_request(ip, "heart-xgb-trained", test, outputs=("label", "probability")),
                                     timeout=60)
    shape, labels = output(resp, "label")
    assert shape == [70] and set(labels) <= {0.0, 1.0}
    assert accuracy([classes[int(v)] for v in labels], test) > 0.75
    pshape, probs = output(resp, "probability")
    assert pshape == [70, 2] and all((probs[2 * i + 1] > 0.5) == (labels[i] == 1) for i in range(70))
