"""Bad input: every back end answers INVALID_ARGUMENT with a message that
names what is wrong (row, feature, limit), and stores nothing of a bad batch."""
import grpc
import pytest

from fsclient import online, read_view, row, view, write


@pytest.fixture
def users(store):
    pb2 = store.pb2
    store.stub.CreateFeatureView(pb2.CreateFeatureViewRequest(
        view=view(pb2, "users", "user_id", (("score", float), ("visits", int)))), timeout=10)
    return store


def rpc_error(call):
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value.code(), e.value.details()


def test_wrong_type_names_row_and_feature(users):
    pb2 = users.pb2
    good = row(pb2, "u0", {"score": 1.0}, seconds=1)
    bad = row(pb2, "u7", {"visits": "many"}, seconds=1)
    code, msg = rpc_error(lambda: write(users, "users", [[good, bad]]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "row 1" in msg and '"u7"' in msg and '"visits"' in msg and "INT64" in msg, msg
    assert read_view(users, "users") == {}, "a rejected batch must store nothing"


def test_unknown_feature(users):
    code, msg = rpc_error(lambda: write(users, "users", [[row(users.pb2, "u1", {"scor": 1.0}, seconds=1)]]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert '"scor"' in msg and "row 0" in msg, msg


def test_missing_entity_key(users):
    code, msg = rpc_error(lambda: write(users, "users", [[row(users.pb2, "", {"score": 1.0}, seconds=1)]]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "entity key" in msg and "user_id" in msg, msg


def test_row_without_values(users):
    code, msg = rpc_error(lambda: write(users, "users", [[row(users.pb2, "u1", {}, seconds=1)]]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "no values" in msg, msg


def test_failure_after_good_batches_keeps_them_and_says_so(users):
    pb2 = users.pb2
    first = [row(pb2, "u1", {"score": 1.0}, seconds=1)]
    code, msg = rpc_error(lambda: write(users, "users", [first, [row(pb2, "u2", {"bogus": 1}, seconds=1)]]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "message 1" in msg and "1 rows of earlier batches were written" in msg, msg
    assert set(read_view(users, "users")) == {"u1"}


def test_batch_size_is_bounded(users):
    pb2 = users.pb2
    rows = [row(pb2, f"u{i}", {"visits": i}, seconds=1) for i in range(10001)]
    code, msg = rpc_error(lambda: write(users, "users", [rows]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "10000" in msg, msg
    code, msg = rpc_error(lambda: online(users, "users", [f"u{i}" for i in range(1001)]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "1000" in msg, msg


def test_lookup_arguments(users):
    code, msg = rpc_error(lambda: online(users, "users", ["u1"], ["score", "nope"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and '"nope"' in msg, msg
    code, msg = rpc_error(lambda: online(users, "users", []))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "entity_keys" in msg, msg
    code, msg = rpc_error(lambda: online(users, "users", ["u1", ""]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "entity_keys[1]" in msg, msg


def test_bad_event_time(users):
    code, msg = rpc_error(lambda: write(users, "users", [[row(users.pb2, "u1", {"score": 1.0}, seconds=1,
                                                                nanos=1_000_000_000)]]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "event_time" in msg, msg


@pytest.mark.parametrize("bad,needle", [
    (dict(name="", entity_key="id", features=[("a", int)]), "view name"),
    (dict(name="has space", entity_key="id", features=[("a", int)]), "has space"),
    (dict(name="v", entity_key="", features=[("a", int)]), "entity_key"),
    (dict(name="v", entity_key="id", features=[]), "no features"),
    (dict(name="v", entity_key="id", features=[("a", int), ("a", float)]), '"a" is declared twice'),
    (dict(name="v", entity_key="id", features=[("id", int)]), "entity key's name"),
])
def test_bad_view_definitions(store, bad, needle):
    pb2 = store.pb2
    code, msg = rpc_error(lambda: store.stub.CreateFeatureView(
        pb2.CreateFeatureViewRequest(view=view(pb2, bad["name"], bad["entity_key"], bad["features"])), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and needle in msg, msg


def test_feature_without_type(store):
    pb2 = store.pb2
    v = pb2.FeatureView(name="v", entity_key="id", features=[pb2.FeatureSpec(name="a")])
    code, msg = rpc_error(lambda: store.stub.CreateFeatureView(pb2.CreateFeatureViewRequest(view=v), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and '"a" needs a type' in msg, msg
