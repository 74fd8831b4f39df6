"""XGBoost models, when the shim is built with libxgboost-dev: a
binary:logistic booster trained on heart_scale's first 200 rows (by
me_xgb_train, through XGBoost's own C API — the Training service has no
XGBoost back end yet), registered in the ModelRepository with framework
"xgboost", served by the same shim and scored on the 70 held-out rows."""
import os
import subprocess

import pytest

from oip import accuracy, infer_request, output, register
from trclient import HEART_SCALE

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
