"""shimctl swap of the model repository under load: fs -> postgres while
the load generator registers new models (CreateModel) and reads
acknowledged ones (GetModel) through the router. Zero failed calls; a
model with a version, an artifact and an alias registered before the swap,
and every model registered during it, are in PostgreSQL afterwards. The DSN is a libpq URI
(postgresql://postgres@127.0.0.1:PORT/DB).

Run twice: e2e.shimctl.swap_model_repository (process environment) and
e2e.shimctl.docker.swap_model_repository (SHIMKIT_SHIMCTL_ENVIRONMENT=docker:
the replicas are containers of `shimctl build`'s images, PostgreSQL stays on
the host and is reached through the docker bridge; the old containers must
be gone afterwards)."""
import hashlib
import importlib
import re

import grpc
import pytest

from shimctl_stack import Postgres, Stack, build_images, free_port, ml_stubs, skip_without_docker

pytestmark = skip_without_docker()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The docker environment's images of the service (nothing in the process environment)."""
    build_images(tmp_path_factory.mktemp("images"), ("model_repository", "fs"))


@pytest.fixture(scope="module")
def postgres():
    pg = Postgres()
    yield pg
    pg.close()


def stub(target):
    ml_stubs()
    pb = importlib.import_module("ml.v1.model_repository_pb2")
    pbg = importlib.import_module("ml.v1.model_repository_pb2_grpc")
    ch = grpc.insecure_channel(target)
    return pb, pbg.ModelRepositoryStub(ch), ch


def register(target, name, data):
    pb, s, ch = stub(target)
    with ch:
        s.CreateModel(pb.CreateModelRequest(name=name, description="before the swap"), timeout=30,
                      wait_for_ready=True)
        head = pb.UploadVersionRequest(header=pb.UploadHeader(model_name=name, framework="liblinear",
                                                              sha256=hashlib.sha256(data).hexdigest()))
        v = s.UploadVersion(iter([head, pb.UploadVersionRequest(chunk=data)]), timeout=30, wait_for_ready=True)
        s.SetAlias(pb.SetAliasRequest(model_name=name, alias="production", version=v.version), timeout=30)


def download(target, name):
    pb, s, ch = stub(target)
    with ch:
        ref = pb.VersionRef(model_name=name, alias="production")
        return b"".join(c.data for c in s.DownloadArtifact(pb.DownloadArtifactRequest(ref=ref), timeout=30,
                                                             wait_for_ready=True))


def missing_models(target, names):
    pb, s, ch = stub(target)
    missing = []
    with ch:
        for n in names:
            try:
                s.GetModel(pb.GetModelRequest(name=n), timeout=30, wait_for_ready=True)
            except grpc.RpcError as e:
                missing.append((n, e.code().name))
    return missing


def test_model_repository_fs_to_postgres_under_load(tmp_path, postgres, images):
    rp = free_port()
    stack = Stack(tmp_path, f"""stack: repo
router:
  listen: 127.0.0.1:{rp}
services:
  model_repository:
    implementation: fs
    drain_grace_ms: 2000
    implementations:
      fs:
        data-dir: {tmp_path}/models
      postgres:
        postgres-dsn: "{postgres.db_uri}"
""")
    try:
        stack.up()
        artifact = bytes(range(256)) * 300
        register(stack.router, "before-swap", artifact)
        old = stack.replica_ids("model_repository-fs")
        acked = str(tmp_path / "acked.txt")
        load = stack.start_load("model_repository", rate=50, duration=50, acked=acked)
        stack.wait_for("models registered before the swap", lambda: stack.calls() > 50)
        r = stack.run("swap", "model_repository", "--to", "postgres")
        print(r.stdout)
        m = re.search(r"swapped model_repository to postgres in ([0-9.]+) s \(traffic moved in (\d+) ms", r.stdout)
        assert m and "state copied:" in r.stdout, r.stdout
        stack.wait_for("models registered after the swap", lambda: stack.calls("model_repository-postgres") > 50)
        result = stack.stop_load(load)
        print("swap fs -> postgres:", result, "swap", m.group(1), "s, hold", m.group(2), "ms")
        assert result["failed"] == 0, result
        names = open(acked).read().split()
        assert len(names) == result["acked"] and len(names) > 50
        assert [s.set.name for s in stack.list_sets().sets] == ["model_repository-postgres"]
        assert not any(stack.replica_exists(r) for r in old), "the old set's replicas are still there"
        direct = f"127.0.0.1:{stack.state()['sets']['model_repository-postgres']['replicas'][0]['port']}"
        for target in (stack.router, direct):
            assert missing_models(target, names + ["before-swap"]) == []
            assert download(target, "before-swap") == artifact
    finally:
        stack.close()
