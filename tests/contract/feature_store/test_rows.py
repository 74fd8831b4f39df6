"""Rows: streamed ingest, online lookup (latest event time wins, unknown keys,
feature subset and order) and ReadView of a whole view."""
from fsclient import online, read_view, row, view, write


def make_view(store, name="users", features=(("score", float), ("visits", int), ("tier", str), ("active", bool))):
    pb2 = store.pb2
    store.stub.CreateFeatureView(pb2.CreateFeatureViewRequest(view=view(pb2, name, "user_id", features)),
                                 timeout=10)


def user_values(i):
    return {"score": i / 8, "visits": i * 3, "tier": ["gold", "silver", "bronze"][i % 3], "active": i % 2 == 0}


def test_streamed_ingest_of_many_rows(store):
    pb2 = store.pb2
    make_view(store)
    n, per = 2400, 400
    rows = [row(pb2, f"u{i:05d}", user_values(i), seconds=1_700_000_000 + i) for i in range(n)]
    assert write(store, "users", [rows[i:i + per] for i in range(0, n, per)]) == n
    got = read_view(store, "users")
    assert len(got) == n
    for i in (0, 1, 799, n - 1):
        assert got[f"u{i:05d}"] == ((1_700_000_000 + i, 0), user_values(i))
    names, vecs = online(store, "users", [f"u{i:05d}" for i in range(0, n, 97)])
    assert names == ["score", "visits", "tier", "active"]
    for key, cells in vecs:
        i = int(key[1:])
        assert [c[0] for c in cells] == list(user_values(i).values())
        assert all(c[1] == "VALUE_STATUS_PRESENT" and c[2] == (1_700_000_000 + i, 0) for c in cells)


def test_latest_event_time_wins(store):
    pb2 = store.pb2
    make_view(store)
    write(store, "users", [[row(pb2, "u1", {"score": 2.0, "visits": 2}, seconds=2000, nanos=5)]])
    # An older event that arrives later changes nothing ...
    write(store, "users", [[row(pb2, "u1", {"score": 1.0, "visits": 1}, seconds=2000, nanos=4)],
                           [row(pb2, "u1", {"score": 0.5}, seconds=1000)]])
    _, vecs = online(store, "users", ["u1"], ["score", "visits"])
    assert vecs == [("u1", [(2.0, "VALUE_STATUS_PRESENT", (2000, 5)), (2, "VALUE_STATUS_PRESENT", (2000, 5))])]
    # ... a newer one replaces just the features it carries.
    write(store, "users", [[row(pb2, "u1", {"visits": 3, "tier": "gold"}, seconds=3000)]])
    names, vecs = online(store, "users", ["u1"])
    assert names == ["score", "visits", "tier", "active"]
    assert vecs == [("u1", [(2.0, "VALUE_STATUS_PRESENT", (2000, 5)), (3, "VALUE_STATUS_PRESENT", (3000, 0)),
                            ("gold", "VALUE_STATUS_PRESENT", (3000, 0)), (None, "VALUE_STATUS_NOT_FOUND", (0, 0))])]
    # ReadView: the row's event time is the latest of its features.
    assert read_view(store, "users") == {"u1": ((3000, 0), {"score": 2.0, "visits": 3, "tier": "gold"})}


def test_unknown_keys_subset_and_order(store):
    pb2 = store.pb2
    make_view(store)
    write(store, "users", [[row(pb2, "a", user_values(1), seconds=10), row(pb2, "b", user_values(2), seconds=20)]])
    names, vecs = online(store, "users", ["b", "nobody", "a", "b"], ["active", "score"])
    assert names == ["active", "score"]
    assert [k for k, _ in vecs] == ["b", "nobody", "a", "b"]
    assert vecs[0][1] == [(True, "VALUE_STATUS_PRESENT", (20, 0)), (0.25, "VALUE_STATUS_PRESENT", (20, 0))]
    assert vecs[1][1] == [(None, "VALUE_STATUS_NOT_FOUND", (0, 0))] * 2
    assert vecs[2][1] == [(False, "VALUE_STATUS_PRESENT", (10, 0)), (0.125, "VALUE_STATUS_PRESENT", (10, 0))]
    assert vecs[3] == vecs[0]


def test_read_view_whole_and_subset(store):
    pb2 = store.pb2
    make_view(store)
    make_view(store, "other", (("x", int),))
    n = 700  # more than one page of the server's scan
    write(store, "users", [[row(pb2, f"k{i}", user_values(i), seconds=100 + i) for i in range(n)]])
    write(store, "other", [[row(pb2, "k1", {"x": 1}, seconds=5)]])
    whole = read_view(store, "users")
    assert whole == {f"k{i}": ((100 + i, 0), user_values(i)) for i in range(n)}
    sub = read_view(store, "users", ["tier"])
    assert sub == {f"k{i}": ((100 + i, 0), {"tier": user_values(i)["tier"]}) for i in range(n)}
    assert read_view(store, "other") == {"k1": ((5, 0), {"x": 1})}


def test_strings_and_extreme_values_roundtrip(store):
    pb2 = store.pb2
    make_view(store)
    vals = {"score": -1.7976931348623157e308, "visits": -(2 ** 63), "tier": "ünïcødé \t \"quoted\" :colon", "active": True}
    write(store, "users", [[row(pb2, "weird key: with spaces/é", vals, seconds=-62135596800)]])
    _, vecs = online(store, "users", ["weird key: with spaces/é"])
    assert [c[0] for c in vecs[0][1]] == list(vals.values())
    assert vecs[0][1][0][2] == (-62135596800, 0)
