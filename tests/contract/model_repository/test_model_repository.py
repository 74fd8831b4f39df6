"""The ModelRepository contract: the same calls and the same expectations
against every back end (the `repo` fixture runs each test on fs and postgres).
Tests that need two back ends or a PostgreSQL outage are at the end."""
import os
import threading
import time

import grpc
import pytest

from repo import Shim, download, export_all, sha256, upload_requests

NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def fails(code, fn, *args, **kwargs):
    """Calls fn, expects an RpcError with code; returns its details."""
    with pytest.raises(grpc.RpcError) as e:
        fn(*args, timeout=30, **kwargs)
    assert e.value.code() == code, f"{e.value.code()}: {e.value.details()}"
    return e.value.details()


def create(repo, pb2, name, **kw):
    return repo.stub.CreateModel(pb2.CreateModelRequest(name=name, **kw), timeout=30)


def upload(repo, pb2, name, data, **kw):
    return repo.stub.UploadVersion(upload_requests(pb2, name, data, **kw), timeout=60)


def artifact(n, seed=1):
    """n deterministic, not very compressible bytes."""
    out, x = bytearray(), seed
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out += x.to_bytes(8, "little")
    return bytes(out[:n])


def versions(repo, pb2, name):
    return [v.version for v in repo.stub.ListVersions(pb2.ListVersionsRequest(model_name=name), timeout=30).versions]


# ---- models -----------------------------------------------------------------------

def test_model_crud(repo, pb2):
    m = create(repo, pb2, "churn", description="who leaves", tags={"team": "ml", "tier": "1"})
    assert (m.name, m.description, dict(m.tags), m.latest_version) == ("churn", "who leaves",
                                                                        {"team": "ml", "tier": "1"}, 0)
    assert m.created_at.seconds > 0 and m.updated_at == m.created_at
    got = repo.stub.GetModel(pb2.GetModelRequest(name="churn"), timeout=30)
    assert got == m
    msg = fails(grpc.StatusCode.ALREADY_EXISTS, repo.stub.CreateModel, pb2.CreateModelRequest(name="churn"))
    assert "churn" in msg
    assert [x.name for x in repo.stub.ListModels(pb2.ListModelsRequest(), timeout=30).models] == ["churn"]
    repo.stub.DeleteModel(pb2.DeleteModelRequest(name="churn"), timeout=30)
    assert "churn" in fails(NOT_FOUND, repo.stub.GetModel, pb2.GetModelRequest(name="churn"))
    assert "churn" in fails(NOT_FOUND, repo.stub.DeleteModel, pb2.DeleteModelRequest(name="churn"))


@pytest.mark.parametrize("name", ["", "Upper", "-lead", "_lead", ".hidden", "a" * 129, "sp ace", "a/b", "../x",
                                  "naïve"])
def test_bad_names_are_invalid_argument(repo, pb2, name):
    fails(INVALID, repo.stub.CreateModel, pb2.CreateModelRequest(name=name))
    fails(INVALID, repo.stub.GetModel, pb2.GetModelRequest(name=name))
    fails(INVALID, repo.stub.UploadVersion, upload_requests(pb2, name, b"x"))


def test_good_names(repo, pb2):
    for name in ["a", "0", "a" * 128, "model-v1.2_final"]:
        assert create(repo, pb2, name).name == name


def test_bad_tags_are_invalid_argument(repo, pb2):
    fails(INVALID, repo.stub.CreateModel, pb2.CreateModelRequest(name="m", tags={"": "empty key"}))
    fails(INVALID, repo.stub.CreateModel, pb2.CreateModelRequest(name="m", tags={f"k{i}": "v" for i in range(65)}))
    fails(INVALID, repo.stub.CreateModel, pb2.CreateModelRequest(name="m", description="d" * 5000))


# ---- uploads and downloads ------------------------------------------------------------

def test_upload_and_download_many_chunks(repo, pb2):
    create(repo, pb2, "iris")
    data = artifact(300_001)
    spec = pb2.TensorSpec(name="x", datatype="FP32", shape=[-1, 4])
    v = upload(repo, pb2, "iris", data, chunk=7000, size_bytes=len(data), inputs=[spec],
               outputs=[pb2.TensorSpec(name="y", datatype="INT64", shape=[-1])], tags={"acc": "0.97"},
               description="first")
    assert (v.model_name, v.version, v.status, v.size_bytes, v.sha256) == (
        "iris", 1, pb2.VERSION_STATUS_READY, len(data), sha256(data))
    assert (v.framework, v.description, dict(v.tags), list(v.inputs)) == ("liblinear", "first", {"acc": "0.97"},
                                                                          [spec])
    meta, got = download(repo.stub, pb2, "iris", version=1, chunk_bytes=10_000)
    assert meta == v
    assert sha256(got) == v.sha256 and got == data
    _, got = download(repo.stub, pb2, "iris", version=1)  # default chunks
    assert got == data
    v2 = upload(repo, pb2, "iris", data[:1000], chunk=1)
    assert v2.version == 2
    assert repo.stub.GetModel(pb2.GetModelRequest(name="iris"), timeout=30).latest_version == 2
    assert repo.stub.GetVersion(pb2.GetVersionRequest(ref=pb2.VersionRef(model_name="iris", version=1)),
                                timeout=30) == v


def test_upload_to_unknown_model(repo, pb2):
    assert "ghost" in fails(NOT_FOUND, repo.stub.UploadVersion, upload_requests(pb2, "ghost", b"abc"))


def test_checksum_mismatch_stores_nothing(repo, pb2):
    create(repo, pb2, "m")
    data = artifact(50_000)
    msg = fails(grpc.StatusCode.DATA_LOSS, repo.stub.UploadVersion,
                upload_requests(pb2, "m", data, sha256=sha256(data + b"!")))
    assert "sha256" in msg and "nothing stored" in msg
    fails(grpc.StatusCode.DATA_LOSS, repo.stub.UploadVersion,
          upload_requests(pb2, "m", data, size_bytes=len(data) + 1))
    assert versions(repo, pb2, "m") == []
    assert upload(repo, pb2, "m", data).version == 1
    assert_no_leftovers(repo)


def test_bad_upload_headers(repo, pb2):
    create(repo, pb2, "m")
    fails(INVALID, repo.stub.UploadVersion, iter([pb2.UploadVersionRequest(chunk=b"data first")]))
    fails(INVALID, repo.stub.UploadVersion, iter([]))
    fails(INVALID, repo.stub.UploadVersion, upload_requests(pb2, "m", b"abc", sha256="ABC"))
    fails(INVALID, repo.stub.UploadVersion, upload_requests(pb2, "m", b"abc", sha256=sha256(b"abc").upper()))
    fails(INVALID, repo.stub.UploadVersion, upload_requests(pb2, "m", b""))  # empty artifact
    h = pb2.UploadVersionRequest(header=pb2.UploadHeader(model_name="m", sha256=sha256(b"ab")))
    fails(INVALID, repo.stub.UploadVersion, iter([h, pb2.UploadVersionRequest(chunk=b"a"), h]))
    bad_shape = pb2.TensorSpec(name="x", datatype="FP32", shape=[-2])
    fails(INVALID, repo.stub.UploadVersion, upload_requests(pb2, "m", b"ab", inputs=[bad_shape]))
    assert versions(repo, pb2, "m") == []


def test_upload_cut_off_halfway_stores_nothing(repo, pb2):
    create(repo, pb2, "m")
    data = artifact(200_000)
    sent_half = threading.Event()
    release = threading.Event()

    def requests():
        gen = upload_requests(pb2, "m", data, chunk=10_000)
        for i, r in enumerate(gen):
            yield r
            if i == 10:
                sent_half.set()
                release.wait(30)
                return

    fut = repo.stub.UploadVersion.future(requests(), timeout=60)
    assert sent_half.wait(30)
    repo.shim.wait_in_flight("/shimkit.ml.v1.ModelRepository/UploadVersion")  # the server is reading chunks
    fut.cancel()
    release.set()
    with pytest.raises(grpc.FutureCancelledError):
        fut.result()
    # The server notices the cancellation, aborts, and stores nothing.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert versions(repo, pb2, "m") == []
        if leftovers(repo) == []:
            break
        time.sleep(0.1)
    assert_no_leftovers(repo)
    assert upload(repo, pb2, "m", data).version == 1


def leftovers(repo):
    """fs: files of uploads in progress (none should remain)."""
    if repo.backend != "fs":
        return []
    tmp = os.path.join(repo.where, "tmp")
    return sorted(os.listdir(tmp)) if os.path.isdir(tmp) else []


def assert_no_leftovers(repo):
    assert leftovers(repo) == []


# ---- versions, status -----------------------------------------------------------------

def test_versions_and_status(repo, pb2):
    create(repo, pb2, "m")
    for i in range(3):
        assert upload(repo, pb2, "m", artifact(100 + i, seed=i)).version == i + 1
    assert versions(repo, pb2, "m") == [1, 2, 3]
    ref = pb2.VersionRef(model_name="m", version=7)
    msg = fails(NOT_FOUND, repo.stub.GetVersion, pb2.GetVersionRequest(ref=ref))
    assert "7" in msg and "m" in msg
    fails(NOT_FOUND, repo.stub.GetVersion, pb2.GetVersionRequest(ref=pb2.VersionRef(model_name="zz", version=1)))
    fails(NOT_FOUND, repo.stub.ListVersions, pb2.ListVersionsRequest(model_name="zz"))
    fails(INVALID, repo.stub.GetVersion, pb2.GetVersionRequest(ref=pb2.VersionRef(model_name="m")))
    fails(INVALID, repo.stub.GetVersion, pb2.GetVersionRequest())
    v = repo.stub.SetVersionStatus(pb2.SetVersionStatusRequest(model_name="m", version=2,
                                                               status=pb2.VERSION_STATUS_ARCHIVED), timeout=30)
    assert (v.version, v.status) == (2, pb2.VERSION_STATUS_ARCHIVED)
    got = repo.stub.GetVersion(pb2.GetVersionRequest(ref=pb2.VersionRef(model_name="m", version=2)), timeout=30)
    assert got.status == pb2.VERSION_STATUS_ARCHIVED
    fails(INVALID, repo.stub.SetVersionStatus,
          pb2.SetVersionStatusRequest(model_name="m", version=2, status=pb2.VERSION_STATUS_UNSPECIFIED))
    fails(INVALID, repo.stub.SetVersionStatus,
          pb2.SetVersionStatusRequest(model_name="m", version=0, status=pb2.VERSION_STATUS_READY))
    fails(NOT_FOUND, repo.stub.SetVersionStatus,
          pb2.SetVersionStatusRequest(model_name="m", version=9, status=pb2.VERSION_STATUS_READY))


# ---- aliases ---------------------------------------------------------------------------

def test_aliases(repo, pb2):
    create(repo, pb2, "m")
    one, two = artifact(1000, 1), artifact(2000, 2)
    upload(repo, pb2, "m", one)
    upload(repo, pb2, "m", two)
    a = repo.stub.SetAlias(pb2.SetAliasRequest(model_name="m", alias="production", version=1), timeout=30)
    assert (a.model_name, a.alias, a.version) == ("m", "production", 1)
    assert repo.stub.GetAlias(pb2.GetAliasRequest(model_name="m", alias="production"), timeout=30).version == 1
    by_alias = pb2.VersionRef(model_name="m", alias="production")
    v = repo.stub.GetVersion(pb2.GetVersionRequest(ref=by_alias), timeout=30)
    assert (v.version, list(v.aliases)) == (1, ["production"])
    assert download(repo.stub, pb2, "m", alias="production")[1] == one
    repo.stub.SetAlias(pb2.SetAliasRequest(model_name="m", alias="production", version=2), timeout=30)
    repo.stub.SetAlias(pb2.SetAliasRequest(model_name="m", alias="canary", version=2), timeout=30)
    assert download(repo.stub, pb2, "m", alias="production")[1] == two
    v2 = repo.stub.GetVersion(pb2.GetVersionRequest(ref=by_alias), timeout=30)
    assert (v2.version, list(v2.aliases)) == (2, ["canary", "production"])
    repo.stub.DeleteAlias(pb2.DeleteAliasRequest(model_name="m", alias="production"), timeout=30)
    assert "production" in fails(NOT_FOUND, repo.stub.GetAlias, pb2.GetAliasRequest(model_name="m", alias="production"))
    fails(NOT_FOUND, repo.stub.GetVersion, pb2.GetVersionRequest(ref=by_alias))
    fails(NOT_FOUND, repo.stub.DeleteAlias, pb2.DeleteAliasRequest(model_name="m", alias="production"))
    fails(NOT_FOUND, repo.stub.SetAlias, pb2.SetAliasRequest(model_name="m", alias="x", version=3))
    assert "ghost" in fails(NOT_FOUND, repo.stub.SetAlias, pb2.SetAliasRequest(model_name="ghost", alias="x", version=1))
    assert "ghost" in fails(NOT_FOUND, repo.stub.GetAlias, pb2.GetAliasRequest(model_name="ghost", alias="x"))
    fails(INVALID, repo.stub.SetAlias, pb2.SetAliasRequest(model_name="m", alias="Prod", version=1))
    fails(INVALID, repo.stub.SetAlias, pb2.SetAliasRequest(model_name="m", alias="prod", version=0))


# ---- paging ------------------------------------------------------------------------------

def test_paging_models(repo, pb2):
    names = sorted([f"m{i:02d}" for i in range(25)] + ["a-1", "a.1", "a_1", "a1"])
    for n in reversed(names):
        create(repo, pb2, n)
    seen, token, pages = [], "", 0
    while True:
        r = repo.stub.ListModels(pb2.ListModelsRequest(page=pb2.PageRequest(page_size=10, page_token=token)),
                                 timeout=30)
        seen += [m.name for m in r.models]
        pages += 1
        token = r.next_page_token
        if not token:
            break
    assert seen == names and pages == 3
    r = repo.stub.ListModels(pb2.ListModelsRequest(name_prefix="m1"), timeout=30)
    assert [m.name for m in r.models] == [f"m1{i}" for i in range(10)] and not r.next_page_token
    fails(INVALID, repo.stub.ListModels, pb2.ListModelsRequest(page=pb2.PageRequest(page_token="not-a-token")))
    fails(INVALID, repo.stub.ListModels, pb2.ListModelsRequest(page=pb2.PageRequest(page_token="7631")))


def test_paging_versions(repo, pb2):
    create(repo, pb2, "m")
    for i in range(5):
        upload(repo, pb2, "m", artifact(10, i))
    seen, token = [], ""
    while True:
        r = repo.stub.ListVersions(pb2.ListVersionsRequest(model_name="m", page=pb2.PageRequest(page_size=2,
                                                                                                page_token=token)),
                                   timeout=30)
        assert len(r.versions) <= 2
        seen += [v.version for v in r.versions]
        token = r.next_page_token
        if not token:
            break
    assert seen == [1, 2, 3, 4, 5]
    fails(INVALID, repo.stub.ListVersions,
          pb2.ListVersionsRequest(model_name="m", page=pb2.PageRequest(page_token="zz")))


def test_delete_model_removes_versions_and_aliases(repo, pb2):
    create(repo, pb2, "m")
    upload(repo, pb2, "m", b"first")
    repo.stub.SetAlias(pb2.SetAliasRequest(model_name="m", alias="prod", version=1), timeout=30)
    repo.stub.DeleteModel(pb2.DeleteModelRequest(name="m"), timeout=30)
    fails(NOT_FOUND, repo.stub.GetVersion, pb2.GetVersionRequest(ref=pb2.VersionRef(model_name="m", version=1)))
    create(repo, pb2, "m")
    assert versions(repo, pb2, "m") == []
    fails(NOT_FOUND, repo.stub.GetAlias, pb2.GetAliasRequest(model_name="m", alias="prod"))
    assert upload(repo, pb2, "m", b"second").version == 1
    assert download(repo.stub, pb2, "m", version=1)[1] == b"second"


# ---- export / import ---------------------------------------------------------------------

def populate(repo, pb2):
    create(repo, pb2, "alpha", description="first model", tags={"owner": "a"})
    create(repo, pb2, "beta")
    create(repo, pb2, "empty")
    upload(repo, pb2, "alpha", artifact(150_000, 3), inputs=[pb2.TensorSpec(name="x", datatype="FP32", shape=[-1, 8])])
    upload(repo, pb2, "alpha", artifact(5, 4), framework="xgboost", tags={"k": "v"})
    upload(repo, pb2, "beta", artifact(70_000, 5))
    repo.stub.SetVersionStatus(pb2.SetVersionStatusRequest(model_name="alpha", version=1,
                                                           status=pb2.VERSION_STATUS_ARCHIVED), timeout=30)
    repo.stub.SetAlias(pb2.SetAliasRequest(model_name="alpha", alias="production", version=2), timeout=30)
    repo.stub.SetAlias(pb2.SetAliasRequest(model_name="beta", alias="staging", version=1), timeout=30)


def import_records(repo, records):
    return repo.stub.Import(iter(records), timeout=120)


@pytest.mark.parametrize("first,second", [("fs", "postgres"), ("postgres", "fs")])
def test_export_import_between_backends(new_repo, pb2, first, second):
    src = new_repo(first)
    populate(src, pb2)
    exported = export_all(src.stub, pb2)
    kinds = [r.WhichOneof("record") for r in exported]
    assert kinds[0] == "model" and kinds.count("model") == 3 and kinds.count("version") == 3
    assert kinds.count("alias") == 2
    dst = new_repo(second)
    summary = import_records(dst, exported)
    assert (summary.models, summary.versions, summary.aliases) == (3, 3, 2)
    assert summary.artifact_bytes == 150_000 + 5 + 70_000
    assert export_all(dst.stub, pb2) == exported
    for name in ("alpha", "beta", "empty"):
        assert dst.stub.GetModel(pb2.GetModelRequest(name=name), timeout=30) == \
            src.stub.GetModel(pb2.GetModelRequest(name=name), timeout=30)
    assert download(dst.stub, pb2, "alpha", alias="production") == download(src.stub, pb2, "alpha", alias="production")
    # and back again, into a third, fresh repository of the first kind
    back = new_repo(first)
    import_records(back, export_all(dst.stub, pb2))
    assert export_all(back.stub, pb2) == exported
    # new uploads continue the numbering
    assert upload(back, pb2, "alpha", b"next").version == 3


def test_import_rejects_bad_streams(repo, pb2):
    M = pb2.RepositoryRecord
    data = b"payload"
    ver = pb2.ModelVersion(model_name="new", version=1, sha256=sha256(data), size_bytes=len(data))
    chunk = pb2.ArtifactChunk(offset=0, data=data)
    bad = pb2.ModelVersion(model_name="new", version=2, sha256=sha256(b"other"), size_bytes=len(data))
    fails(grpc.StatusCode.DATA_LOSS, repo.stub.Import,
          iter([M(model=pb2.RegisteredModel(name="new")), M(version=ver), M(chunk=chunk), M(version=bad),
                M(chunk=chunk)]))
    # records before the failure were applied, the corrupt version was not
    assert versions(repo, pb2, "new") == [1]
    fails(INVALID, repo.stub.Import, iter([M(chunk=chunk)]))
    fails(NOT_FOUND, repo.stub.Import, iter([M(alias=pb2.Alias(model_name="new", alias="p", version=5))]))
    fails(INVALID, repo.stub.Import, iter([M()]))


def version_record(pb2, model, version, data):
    return pb2.RepositoryRecord(version=pb2.ModelVersion(model_name=model, version=version, sha256=sha256(data),
                                                         size_bytes=len(data)))


def chunk_record(pb2, data):
    return pb2.RepositoryRecord(chunk=pb2.ArtifactChunk(offset=0, data=data))


def first_version_of(records, model):
    return next(i for i, r in enumerate(records) if r.WhichOneof("record") == "version" and r.version.model_name == model)


def test_import_again_counts_what_is_present(repo, new_repo, pb2):
    """A copy that stopped between records, run again: what arrived is skipped, the rest stored."""
    populate(repo, pb2)
    exported = export_all(repo.stub, pb2)
    dst = new_repo(repo.backend)
    part = import_records(dst, exported[:first_version_of(exported, "beta")])  # alpha whole, beta's model
    assert (part.models, part.versions, part.aliases) == (2, 2, 1)
    summary = import_records(dst, exported)
    assert (summary.models, summary.models_present) == (1, 2)
    assert (summary.versions, summary.versions_present) == (1, 2)
    assert (summary.aliases, summary.artifact_bytes) == (2, 70_000)
    assert export_all(dst.stub, pb2) == exported
    again = import_records(dst, exported)
    assert (again.models, again.versions, again.artifact_bytes) == (0, 0, 0)
    assert (again.models_present, again.versions_present, again.aliases) == (3, 3, 2)
    assert export_all(dst.stub, pb2) == exported


def test_import_again_after_copy_cut_off_mid_version(repo, new_repo, pb2):
    """The client goes away in the middle of a version's chunks; the same copy run again completes."""
    populate(repo, pb2)
    exported = export_all(repo.stub, pb2)
    cut = first_version_of(exported, "beta") + 2  # beta's version record and its first chunk

    def cut_off():
        yield from exported[:cut]
        raise RuntimeError("copy interrupted")

    dst = new_repo(repo.backend)
    with pytest.raises(grpc.RpcError):
        dst.stub.Import(cut_off(), timeout=120)
    if "beta" in [m.name for m in dst.stub.ListModels(pb2.ListModelsRequest(), timeout=30).models]:
        assert versions(dst, pb2, "beta") == [], "a version cut off mid-stream is not stored"
    summary = import_records(dst, exported)
    assert (summary.models + summary.models_present, summary.versions + summary.versions_present) == (3, 3)
    assert summary.versions >= 1  # beta's version was not stored by the cut-off call
    assert export_all(dst.stub, pb2) == exported


def test_import_conflicting_version_is_already_exists(repo, pb2):
    create(repo, pb2, "m")
    upload(repo, pb2, "m", b"ours")
    model = pb2.RepositoryRecord(model=pb2.RegisteredModel(name="m"))
    theirs = b"theirs"
    msg = fails(grpc.StatusCode.ALREADY_EXISTS, repo.stub.Import,
                iter([model, version_record(pb2, "m", 1, theirs), chunk_record(pb2, theirs)]))
    assert "version 1 of model 'm'" in msg and sha256(theirs) in msg, msg
    assert download(repo.stub, pb2, "m", version=1)[1] == b"ours"
    # the same number with the same content is skipped; a new number is stored
    summary = import_records(repo, [model, version_record(pb2, "m", 1, b"ours"), chunk_record(pb2, b"ours"),
                                    version_record(pb2, "m", 2, b"next"), chunk_record(pb2, b"next")])
    assert (summary.models, summary.models_present, summary.versions, summary.versions_present) == (0, 1, 1, 1)
    assert versions(repo, pb2, "m") == [1, 2]
    assert download(repo.stub, pb2, "m", version=2)[1] == b"next"


# ---- PostgreSQL outage --------------------------------------------------------------------

def test_postgres_down_is_unavailable_then_recovers(stubs, pb2):
    from repo import Postgres

    pg = Postgres()
    shim = None
    try:
        dsn = pg.new_database()
        shim = Shim("--backend", "postgres", "--postgres-dsn", dsn)
        stub = stubs[1].ModelRepositoryStub(shim.channel)
        stub.CreateModel(pb2.CreateModelRequest(name="kept"), timeout=30)
        data = artifact(400_000, 9)
        v = stub.UploadVersion(upload_requests(pb2, "kept", data), timeout=60)
        stub.SetAlias(pb2.SetAliasRequest(model_name="kept", alias="prod", version=1), timeout=30)

        pg.stop()
        for call, req in [(stub.GetModel, pb2.GetModelRequest(name="kept")),
                          (stub.CreateModel, pb2.CreateModelRequest(name="lost")),
                          (stub.ListModels, pb2.ListModelsRequest())]:
            msg = fails(grpc.StatusCode.UNAVAILABLE, call, req)
            assert "PostgreSQL" in msg
        fails(grpc.StatusCode.UNAVAILABLE, stub.UploadVersion, upload_requests(pb2, "kept", b"while down"))

        pg.start()
        assert stub.GetModel(pb2.GetModelRequest(name="kept"), timeout=30).latest_version == 1
        assert stub.GetAlias(pb2.GetAliasRequest(model_name="kept", alias="prod"), timeout=30).version == 1
        meta, got = download(stub, pb2, "kept", alias="prod")
        assert (meta.version, meta.sha256, list(meta.aliases)) == (1, v.sha256, ["prod"]) and got == data
        fails(NOT_FOUND, stub.GetModel, pb2.GetModelRequest(name="lost"))
        stub.CreateModel(pb2.CreateModelRequest(name="after"), timeout=30)
        assert stub.UploadVersion(upload_requests(pb2, "kept", b"after"), timeout=60).version == 2
    finally:
        if shim:
            shim.kill()
        pg.close()
