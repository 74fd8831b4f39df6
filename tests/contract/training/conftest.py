"""Fixtures of the Training contract suite: stubs generated now from
proto/ml/v1, and real processes — a feature_store_shim (SQLite), a
model_repository_shim (fs) and a training_shim per back end. The `training`
fixture is parametrized over liblinear, libsvm and (when built) xgboost: the tests never know which
one they talk to, except for the framework and artifact format they check."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, HERE)

from contractkit import ROOT, Service, Shim, generate_stubs, program  # noqa: E402,F401
from trclient import BACKENDS  # noqa: E402


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """A namespace of the generated modules: pb.fs, pb.fs_grpc, pb.mr, pb.mr_grpc, pb.tr, pb.tr_grpc."""
    mods = generate_stubs(tmp_path_factory.mktemp("stubs"),
                          [f"ml/v1/{f}.proto" for f in ("common", "feature_store", "model_repository", "training")],
                          [f"ml.v1.{m}" for m in ("feature_store_pb2", "feature_store_pb2_grpc",
                                                  "model_repository_pb2", "model_repository_pb2_grpc",
                                                  "training_pb2", "training_pb2_grpc")])

    class PB:
        fs, fs_grpc, mr, mr_grpc, tr, tr_grpc = mods
    return PB


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def feature_store(pb, stack_dir):
    shim = Shim("--backend", "sqlite", "--db", str(stack_dir / "features.db"), "--no-access-log",
                command=program("SHIMKIT_FEATURE_STORE_SHIM")).start()
    s = Service(shim, pb.fs_grpc.FeatureStoreStub)
    yield s
    s.close()


@pytest.fixture(scope="session")
def repository(pb, stack_dir):
    d = stack_dir / "repo"
    d.mkdir()
    shim = Shim("--backend", "fs", "--data-dir", str(d), "--no-access-log",
                command=program("SHIMKIT_MODEL_REPOSITORY_SHIM")).start()
    s = Service(shim, pb.mr_grpc.ModelRepositoryStub)
    yield s
    s.close()


def start_training(pb, backend, repo_target, fs_target=None, *extra):
    args = ["--backend", backend, "--model-repository", repo_target, "--no-access-log", *extra]
    if fs_target:
        args += ["--feature-store", fs_target]
    shim = Shim(*args, command=program("SHIMKIT_TRAINING_SHIM")).start()
    s = Service(shim, pb.tr_grpc.TrainingStub)
    s.backend = backend
    return s


@pytest.fixture
def new_training(pb):
    """new_training(backend, repo_target, fs_target=None, *extra flags) → a Service."""
    made = []

    def make(*args):
        s = start_training(pb, *args)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture(params=BACKENDS)
def training(request, new_training, repository, feature_store):
    return new_training(request.param, repository.target, feature_store.target)
