"""Fixtures of the Training contract suite: stubs generated now from
proto/ml/v1, and real processes — a feature_store_shim (SQLite), a
model_repository_shim (fs) and a training_shim per back end. The `training`
fixture is parametrized over liblinear, libsvm and (when built) xgboost: the tests never know which
one they talk to, except for the framework and artifact format they check."""
import importlib
import os
import sys

import grpc
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PROTO_ROOT = os.path.join(ROOT, "proto")
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e", "python"))
sys.path.insert(0, HERE)

from shimproc import Shim  # noqa: E402
from trclient import BACKENDS  # noqa: E402


def program(var):
    path = os.environ.get(var)
    if not path:
        raise RuntimeError(f"{var} is not set (ctest sets it; see tests/contract/training/CMakeLists.txt)")
    return [path]


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """A namespace of the generated modules: pb.fs, pb.fs_grpc, pb.mr, pb.mr_grpc, pb.tr, pb.tr_grpc."""
    from grpc_tools import protoc
    import grpc_tools

    out = tmp_path_factory.mktemp("stubs")
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = [os.path.join(PROTO_ROOT, "ml", "v1", f)
             for f in ("common.proto", "feature_store.proto", "model_repository.proto", "training.proto")]
    rc = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{wkt}", f"--python_out={out}",
                      f"--grpc_python_out={out}", *files])
    assert rc == 0, "grpc_tools.protoc failed on proto/ml/v1"
    sys.path.insert(0, str(out))

    class PB:
        fs = importlib.import_module("ml.v1.feature_store_pb2")
        fs_grpc = importlib.import_module("ml.v1.feature_store_pb2_grpc")
        mr = importlib.import_module("ml.v1.model_repository_pb2")
        mr_grpc = importlib.import_module("ml.v1.model_repository_pb2_grpc")
        tr = importlib.import_module("ml.v1.training_pb2")
        tr_grpc = importlib.import_module("ml.v1.training_pb2_grpc")
    return PB


class Service:
    """A running shim and a channel to it."""

    def __init__(self, shim, stub_class):
        self.shim = shim
        self.target = shim.target
        self.channel = grpc.insecure_channel(shim.target)
        grpc.channel_ready_future(self.channel).result(timeout=20)
        self.stub = stub_class(self.channel)

    def close(self):
        self.channel.close()
        rc = self.shim.stop()
        assert rc == 0, f"shim exited with {rc} on SIGTERM:\n{self.shim.log()}"


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
