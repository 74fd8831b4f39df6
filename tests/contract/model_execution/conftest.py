"""Fixtures of the model execution contract suite. The stack is real: the
Training suite's fixtures (tests/contract/training/conftest.py, reused, not
copied) start a feature_store_shim (SQLite), a model_repository_shim (fs)
and training_shims; this file adds Open Inference Protocol stubs generated
now from proto/inference/grpc_predict_v2.proto, heart_scale models trained
by liblinear AND libsvm on the first 200 rows, and a model_execution_shim."""
import importlib.util
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINING = os.path.join(HERE, "..", "training")
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, TRAINING)
sys.path.insert(0, HERE)

from contractkit import ROOT, Service, Shim, generate_stubs, program  # noqa: E402,F401

_spec = importlib.util.spec_from_file_location("training_conftest", os.path.join(TRAINING, "conftest.py"))
tc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tc)
# The Training suite's fixtures, registered here by name.
pb, stack_dir, feature_store, repository, new_training = tc.pb, tc.stack_dir, tc.feature_store, tc.repository, tc.new_training

from trclient import finish, load_heart_scale, put_view, state, submit  # noqa: E402

FRAMEWORKS = ["liblinear", "libsvm"]
N_TRAIN = 200
# liblinear's logistic regression gives probabilities; the libsvm model is trained without them.
HP = {"liblinear": {"solver": "l2r_lr", "C": "1", "eps": "0.01"},
      "libsvm": {"kernel": "linear", "C": "1"}}


@pytest.fixture(scope="session")
def ip(tmp_path_factory):
    """The inference package's messages and stubs (ip.pb2, ip.grpc)."""
    pb2, grpc_mod = generate_stubs(tmp_path_factory.mktemp("oip_stubs"), ["inference/grpc_predict_v2.proto"],
                                   ["inference.grpc_predict_v2_pb2", "inference.grpc_predict_v2_pb2_grpc"],
                                   well_known=False)

    class IP:
        pass
    IP.pb2, IP.grpc = pb2, grpc_mod
    return IP


@pytest.fixture(scope="session")
def heart():
    rows = load_heart_scale()
    assert len(rows) == 270
    return rows[:N_TRAIN], rows[N_TRAIN:]


@pytest.fixture(scope="session")
def models(pb, feature_store, repository, heart, tmp_path_factory):
    """{framework: model name}: heart_scale's first 200 rows in a feature view, one model per framework,
    each version 1 in the repository (trained by a real training_shim of that back end)."""
    put_view(pb, feature_store, "heart_train", heart[0])
    names = {}
    for fw in FRAMEWORKS:
        tr = tc.start_training(pb, fw, repository.target, feature_store.target)
        try:
            job = submit(pb, tr, f"heart-{fw}", view="heart_train", hp=HP[fw])
            done = finish(pb, tr, job.id)
            assert state(pb, done) == "JOB_STATE_SUCCEEDED", done.failure_reason
            assert done.model_version == 1
        finally:
            tr.close()
        names[fw] = f"heart-{fw}"
    return names


def start_inference(repo_target, *extra, stub_class=None):
    """A model_execution_shim; .stub is stub_class's on a channel to it (None without one)."""
    shim = Shim("--model-repository", repo_target, "--no-access-log", *extra,
                command=program("SHIMKIT_MODEL_EXECUTION_SHIM")).start()
    return Service(shim, stub_class or (lambda channel: None))


@pytest.fixture(scope="session")
def inference_shim(repository, models):
    """The shim serving the heart_scale models, with no stub: a client brings its own (test_oip_client.py
    uses another generated copy of the protocol, which cannot share a process with ip's)."""
    s = start_inference(repository.target)
    yield s
    s.close()


@pytest.fixture(scope="session")
def inference(ip, inference_shim):
    inference_shim.stub = ip.grpc.GRPCInferenceServiceStub(inference_shim.channel)
    return inference_shim


@pytest.fixture
def new_inference(ip):
    """new_inference(repo_target, *extra flags) → a Service, stopped after the test."""
    made = []

    def make(*args):
        s = start_inference(*args, stub_class=ip.grpc.GRPCInferenceServiceStub)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
