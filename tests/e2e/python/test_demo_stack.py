"""The README's main demo (scripts/demo.sh) as a test: the same client code
(scripts/demo_stack.py, imported) against freshly built shims —
model_repository_shim (fs), feature_store_shim (sqlite), training_shim
(liblinear) and model_execution_shim — on heart_scale, first 200 rows to train,
last 70 held out. The held-out predictions from ModelInfer must be exactly
what liblinear's own command-line tools (liblinear-train / liblinear-predict
from Debian's liblinear-tools) predict on the same split with the same solver
and C, and so must the accuracy."""
import os
import subprocess
import sys

import pytest

from shimproc import Shim

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import demo_stack  # noqa: E402

N_TRAIN, N_HOLDOUT = 200, 70
SOLVER, C = ("l2r_lr", "0"), "1"  # (training_shim's name, liblinear-train's -s number) of the same solver


def program(var):
    path = os.environ.get(var)
    if not path:
        pytest.fail(f"{var} is not set (ctest sets it; see tests/e2e/CMakeLists.txt)")
    return [path]


def tool(var):
    path = os.environ.get(var)
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"{var}={path!r} is not a program: install liblinear-tools (scripts/setup.sh)")
    return path


@pytest.fixture
def stack(tmp_path):
    """{name: Shim} of the four services, started like scripts/demo.sh starts them; all must exit 0 on SIGTERM."""
    (tmp_path / "repo").mkdir()
    shims = {}
    try:
        shims["mr"] = Shim("--backend", "fs", "--data-dir", str(tmp_path / "repo"), "--no-access-log",
                           command=program("SHIMKIT_MODEL_REPOSITORY_SHIM")).start()
        shims["fs"] = Shim("--backend", "sqlite", "--db", str(tmp_path / "features.db"), "--no-access-log",
                           command=program("SHIMKIT_FEATURE_STORE_SHIM")).start()
        shims["tr"] = Shim("--backend", "liblinear", "--model-repository", shims["mr"].target,
                           "--feature-store", shims["fs"].target, "--no-access-log",
                           command=program("SHIMKIT_TRAINING_SHIM")).start()
        shims["me"] = Shim("--model-repository", shims["mr"].target, "--no-access-log",
                           command=program("SHIMKIT_MODEL_EXECUTION_SHIM")).start()
        yield shims
    finally:
        for name in ("me", "tr", "fs", "mr"):
            if name in shims:
                rc = shims[name].stop()
                assert rc == 0, f"{name} exited with {rc} on SIGTERM:\n{shims[name].log()}"


def liblinear_cli(tmp_path):
    """(predicted labels, accuracy) of liblinear-train/-predict on the same split of heart_scale."""
    train_bin, predict_bin = tool("SHIMKIT_LIBLINEAR_TRAIN"), tool("SHIMKIT_LIBLINEAR_PREDICT")
    with open(demo_stack.HEART_SCALE) as f:
        lines = [ln for ln in f if ln.strip()]
    assert len(lines) == N_TRAIN + N_HOLDOUT
    (tmp_path / "train").write_text("".join(lines[:N_TRAIN]))
    (tmp_path / "test").write_text("".join(lines[N_TRAIN:]))
    # liblinear-train's defaults otherwise match training_shim's: eps 0.01 for this solver, no bias term.
    subprocess.run([train_bin, "-s", SOLVER[1], "-c", C, "-q", str(tmp_path / "train"), str(tmp_path / "model")],
                   check=True, capture_output=True, text=True)
    out = subprocess.run([predict_bin, str(tmp_path / "test"), str(tmp_path / "model"), str(tmp_path / "pred")],
                         check=True, capture_output=True, text=True).stdout
    pred = [float(x) for x in (tmp_path / "pred").read_text().split()]
    truth = [float(ln.split()[0]) for ln in lines[N_TRAIN:]]
    acc = sum(p == y for p, y in zip(pred, truth)) / len(truth)
    assert f"({round(acc * len(truth))}/{len(truth)})" in out, out
    return pred, acc


def test_demo_stack_accuracy_is_liblinears(stack, tmp_path):
    said = []
    say = said.append
    assert demo_stack.load(stack["fs"].target, n_train=N_TRAIN, say=say) == (N_TRAIN, N_HOLDOUT)

    job = demo_stack.train(stack["tr"].target, "heart-liblinear", "liblinear",
                           {"solver": SOLVER[0], "C": C}, say=say)
    assert job.model_version == 1 and job.metrics["rows"] == N_TRAIN
    # WatchJob reported progress up to the end.
    progress = [ln for ln in said if "%" in ln]
    assert progress and "100.0%" in progress[-1] and "SUCCEEDED" in progress[-1], said

    acc, labels = demo_stack.infer(stack["me"].target, stack["fs"].target, "heart-liblinear",
                                   N_TRAIN, N_HOLDOUT, say=say)
    want_labels, want_acc = liblinear_cli(tmp_path)
    assert labels == want_labels, "ModelInfer and liblinear-predict disagree on a held-out row"
    assert acc == want_acc, (acc, want_acc)
    assert f"accuracy of heart-liblinear on the 70 held-out rows: {round(acc * 70)}/70" in said[-1]
