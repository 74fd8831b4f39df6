"""Several feature_store_shim replicas over one store (the same SQLite file,
the same Redis): a view definition one replica has cached is never used
after another replica deleted or re-created the view."""
import grpc
import pytest

from conftest import BACKENDS, start_store
from fsclient import online, row, view, write


def create(store, name, features):
    pb2 = store.pb2
    store.stub.CreateFeatureView(pb2.CreateFeatureViewRequest(view=view(pb2, name, "id", features)), timeout=10)


def delete(store, name):
    store.stub.DeleteFeatureView(store.pb2.DeleteFeatureViewRequest(name=name), timeout=10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_view_recreated_through_another_replica_is_never_served_stale(pb, tmp_path, redis_server, backend):
    redis = None
    if backend == "redis":
        redis = redis_server
        redis.flush()
    first = start_store(pb, backend, tmp_path, redis)
    second = None
    try:
        second = start_store(pb, backend, tmp_path, redis)
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
    finally:
        if second:
            second.close()
        first.close()
