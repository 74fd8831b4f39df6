"""Several feature_store_shim replicas over one store (the same SQLite file,
the same Redis): a view definition one replica has cached is never used
after another replica deleted or re-created the view, neither to read
(GetOnlineFeatures) nor to write (a WriteRows stream open across the change)."""
import threading
import time

import grpc
import pytest

from conftest import BACKENDS, start_store
from fsclient import online, row, view, write


def create(store, name, features):
    pb2 = store.pb2
    store.stub.CreateFeatureView(pb2.CreateFeatureViewRequest(view=view(pb2, name, "id", features)), timeout=10)


def delete(store, name):
    store.stub.DeleteFeatureView(store.pb2.DeleteFeatureViewRequest(name=name), timeout=10)


@pytest.fixture
def replicas(pb, tmp_path, redis_server, backend):
    """Two feature_store_shims over one store of the test's back end (one SQLite file, one Redis)."""
    redis = None
    if backend == "redis":
        redis = redis_server
        redis.flush()
    started = []
    try:
        started.append(start_store(pb, backend, tmp_path, redis))
        started.append(start_store(pb, backend, tmp_path, redis))
        yield started
    finally:
        for s in reversed(started):
            s.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_view_recreated_through_another_replica_is_never_served_stale(replicas, backend):
    first, second = replicas
    pb2 = first.pb2
    create(first, "shared", (("age", float), ("sex", int)))
    write(first, "shared", [[row(pb2, "k1", {"age": 41.5, "sex": 1}, seconds=5)]])
    for _ in range(3):  # the first replica now has the definition cached
        names, vecs = online(first, "shared", ["k1"])
        assert names == ["age", "sex"]
        assert vecs == [("k1", [(41.5, "VALUE_STATUS_PRESENT", (5, 0)), (1, "VALUE_STATUS_PRESENT", (5, 0))])]

    # Through the second replica: the same name, other features ("sex" now a STRING).
    delete(second, "shared")
    create(second, "shared", (("sex", str), ("city", str)))
    write(second, "shared", [[row(pb2, "k1", {"sex": "f", "city": "Oslo"}, seconds=7)]])

    names, vecs = online(first, "shared", ["k1", "k2"])
    assert names == ["sex", "city"]
    assert vecs == [("k1", [("f", "VALUE_STATUS_PRESENT", (7, 0)), ("Oslo", "VALUE_STATUS_PRESENT", (7, 0))]),
                    ("k2", [(None, "VALUE_STATUS_NOT_FOUND", (0, 0))] * 2)]
    with pytest.raises(grpc.RpcError) as e:
        online(first, "shared", ["k1"], ["age"])  # a feature of the old definition only
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # Re-created with no rows yet: the old rows are gone, not decoded with the new schema.
    delete(second, "shared")
    create(second, "shared", (("age", str),))
    names, vecs = online(first, "shared", ["k1"])
    assert names == ["age"] and vecs == [("k1", [(None, "VALUE_STATUS_NOT_FOUND", (0, 0))])]

    # Deleted through the second replica: NOT_FOUND through the first.
    delete(second, "shared")
    with pytest.raises(grpc.RpcError) as e:
        online(first, "shared", ["k1"])
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert '"shared"' in e.value.details()


@pytest.mark.parametrize("backend", BACKENDS)
def test_write_stream_aborts_when_another_replica_recreates_the_view(replicas, backend):
    """A WriteRows stream on one replica read the definition at its first batch; the view is then
    deleted and re-created (same name, same features) through another replica. The next batch must
    fail the stream with ABORTED and write nothing: not a row lands in the new view."""
    first, second = replicas
    pb2 = first.pb2
    features = (("age", float), ("sex", int))
    create(first, "moving", features)
    first_applied = threading.Event()
    recreated = threading.Event()

    def batches():
        yield pb2.WriteRowsRequest(view="moving", rows=[row(pb2, "k1", {"age": 1.5, "sex": 1}, seconds=5)])
        first_applied.wait(60)
        recreated.wait(60)
        yield pb2.WriteRowsRequest(view="moving", rows=[row(pb2, "k2", {"age": 2.5, "sex": 0}, seconds=6)])

    call = first.stub.WriteRows.future(batches(), timeout=120)
    # The first batch is in the store once the other replica reads it back (bounded polling, no timing).
    for _ in range(600):
        _, vecs = online(second, "moving", ["k1"])
        if vecs[0][1][0][1] == "VALUE_STATUS_PRESENT":
            break
        time.sleep(0.05)
    else:
        pytest.fail("the stream's first batch never reached the store")
    first_applied.set()
    delete(second, "moving")
    create(second, "moving", features)
    recreated.set()

    with pytest.raises(grpc.RpcError) as e:
        call.result()
    assert e.value.code() == grpc.StatusCode.ABORTED, e.value.details()
    assert '"moving" was deleted and re-created' in e.value.details()
    _, vecs = online(second, "moving", ["k1", "k2"])
    assert [v[1] for v in vecs] == [[(None, "VALUE_STATUS_NOT_FOUND", (0, 0))] * 2] * 2

    # A stream started after the re-creation writes to the new view as usual.
    assert write(first, "moving", [[row(pb2, "k3", {"age": 3.5, "sex": 1}, seconds=7)]]) == 1
    _, vecs = online(second, "moving", ["k3"])
    assert vecs == [("k3", [(3.5, "VALUE_STATUS_PRESENT", (7, 0)), (1, "VALUE_STATUS_PRESENT", (7, 0))])]
