"""Fixtures of the FeatureStore contract suite: stubs generated now from
proto/ml/v1, real Redis servers started by scripts/services/redis.sh, and a
feature_store_shim per test over each back end. The tests themselves never
know which back end they talk to: the `store` fixture is parametrized."""
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))
sys.path.insert(0, HERE)

from contractkit import ROOT, Service, Shim, generate_stubs, program  # noqa: E402

REDIS_SH = os.path.join(ROOT, "scripts", "services", "redis.sh")
BACKENDS = ["sqlite", "redis"]


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """(feature_store_pb2, feature_store_pb2_grpc), generated now from proto/ml/v1."""
    return tuple(generate_stubs(tmp_path_factory.mktemp("stubs"),
                                ["ml/v1/common.proto", "ml/v1/feature_store.proto"],
                                ["ml.v1.feature_store_pb2", "ml.v1.feature_store_pb2_grpc"]))


class Redis:
    """A redis-server of the test's own, through scripts/services/redis.sh."""

    def __init__(self, data_dir):
        self.dir = str(data_dir)
        self.addr = None

    def _run(self, cmd):
        r = subprocess.run([REDIS_SH, cmd, self.dir], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"redis.sh {cmd} failed: {r.stderr}"
        return r.stdout.strip()

    def start(self):
        self.addr = self._run("start")
        return self

    def stop(self):
        self._run("stop")

    def kill(self):
        """SIGKILL: nothing gets flushed at exit, as in a crash."""
        with open(os.path.join(self.dir, "redis.pid")) as f:
            pid = int(f.read())
        os.kill(pid, 9)
        for _ in range(200):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def flush(self):
        host, port = self.addr.split(":")
        subprocess.run(["redis-cli", "-h", host, "-p", port, "FLUSHALL", "SYNC"], check=True,
                       capture_output=True, timeout=30)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    r = Redis(tmp_path_factory.mktemp("redis")).start()
    yield r
    r.stop()


class Store(Service):
    """A running feature_store_shim and a stub to it."""

    def __init__(self, pb, backend, shim):
        self.pb2, self.pb2_grpc = pb
        self.backend = backend
        super().__init__(shim, self.pb2_grpc.FeatureStoreStub)


def start_store(pb, backend, tmp_path, redis=None):
    if backend == "sqlite":
        args = ["--backend", "sqlite", "--db", str(tmp_path / "features.db")]
    else:
        args = ["--backend", "redis", "--redis", redis.addr]
    shim = Shim(*args, "--no-access-log", command=program("SHIMKIT_FEATURE_STORE_SHIM")).start()
    return Store(pb, backend, shim)


@pytest.fixture
def new_store(pb, tmp_path, redis_server):
    """new_store(backend) → a Store over an empty store of that back end."""
    stores = []

    def make(backend, redis=None):
        if backend == "redis" and redis is None:
            redis = redis_server
            redis.flush()
        d = tmp_path / f"{backend}{len(stores)}"
        d.mkdir()
        s = start_store(pb, backend, d, redis)
        stores.append(s)
        return s

    yield make
    for s in stores:
        s.close()


@pytest.fixture(params=BACKENDS)
def store(request, new_store):
    return new_store(request.param)
