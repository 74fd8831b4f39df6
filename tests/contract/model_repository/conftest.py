"""Fixtures of the ModelRepository contract suite: generated stubs and one
fresh repository per test on each back end (fs: a temp data dir; postgres: a
fresh database in a cluster this session starts with scripts/services/postgres.sh)."""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from repo import Postgres, Shim  # noqa: E402  (repo puts tests/contract/common on sys.path)
from contractkit import generate_stubs  # noqa: E402

BACKENDS = ["fs", "postgres"]
METRICS = ("--metrics-listen", "127.0.0.1:0")  # calls in flight, for tests that must know a call arrived


@pytest.fixture(scope="session")
def stubs(tmp_path_factory):
    """model_repository_pb2 and _pb2_grpc, generated now from proto/ml/v1."""
    mr, common, mr_grpc = generate_stubs(
        tmp_path_factory.mktemp("stubs"), ["ml/v1/common.proto", "ml/v1/model_repository.proto"],
        ["ml.v1.model_repository_pb2", "ml.v1.common_pb2", "ml.v1.model_repository_pb2_grpc"])
    return Messages(mr, common), mr_grpc


class Messages:
    """The messages of model_repository.proto and common.proto under one name (pb2.TensorSpec ...)."""

    def __init__(self, *modules):
        self._modules = modules

    def __getattr__(self, name):
        for m in self._modules:
            if hasattr(m, name):
                return getattr(m, name)
        raise AttributeError(name)


@pytest.fixture(scope="session")
def pb2(stubs):
    return stubs[0]


@pytest.fixture(scope="session")
def postgres():
    pg = Postgres()
    yield pg
    pg.close()


class Repo:
    """A running shim on one back end, with a stub."""

    def __init__(self, backend, shim, stubs, where):
        self.backend = backend
        self.shim = shim
        self.where = where  # data dir (fs) or DSN (postgres)
        self.stub = stubs[1].ModelRepositoryStub(shim.channel)


def make_repo(backend, stubs, tmp_path, postgres):
    if backend == "fs":
        where = str(tmp_path / "fs-data")
        shim = Shim("--backend", "fs", "--data-dir", where, *METRICS)
    else:
        where = postgres.new_database()
        shim = Shim("--backend", "postgres", "--postgres-dsn", where, *METRICS)
    return Repo(backend, shim, stubs, where)


@pytest.fixture(params=BACKENDS)
def repo(request, stubs, tmp_path):
    pg = request.getfixturevalue("postgres") if request.param == "postgres" else None
    r = make_repo(request.param, stubs, tmp_path, pg)
    yield r
    r.shim.kill()


@pytest.fixture
def new_repo(stubs, tmp_path, request):
    """Factory: new_repo(backend) -> a fresh Repo; all are stopped at the end."""
    made = []

    def make(backend):
        pg = request.getfixturevalue("postgres") if backend == "postgres" else None
        sub = tmp_path / f"r{len(made)}"
        sub.mkdir()
        r = make_repo(backend, stubs, sub, pg)
        made.append(r)
        return r

    yield make
    for r in made:
        r.shim.kill()
