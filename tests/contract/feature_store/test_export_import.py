"""Export from one back end, Import into the other: the same views, the same
latest values and event times, the same answers (sqlite → redis and back)."""
import pytest

from fsclient import export, import_records, online, read_view, row, view, write


def fill(store):
    pb2 = store.pb2
    for name, feats in (("users", (("score", float), ("visits", int), ("tier", str), ("active", bool))),
                        ("items", (("price", float),))):
        store.stub.CreateFeatureView(pb2.CreateFeatureViewRequest(view=view(pb2, name, "id", feats)), timeout=10)
    rows = [row(pb2, f"u{i:04d}", {"score": i * 0.1, "visits": i, "tier": f"t{i % 4}", "active": i % 3 == 0},
                seconds=5000 + i, nanos=i) for i in range(1500)]
    write(store, "users", [rows[:700], rows[700:]])
    # features of one entity with different event times must survive the move
    write(store, "users", [[row(pb2, "u0001", {"visits": 99}, seconds=9999, nanos=1)]])
    write(store, "items", [[row(pb2, f"i{i}", {"price": i + 0.5}, seconds=7) for i in range(10)]])


def snapshot(store):
    keys = ["u0000", "u0001", "u1499", "nobody"]
    return (export(store), read_view(store, "users"), read_view(store, "items"), online(store, "users", keys))


@pytest.mark.parametrize("src,dst", [("sqlite", "redis"), ("redis", "sqlite")])
def test_move_between_back_ends(new_store, src, dst):
    a = new_store(src)
    fill(a)
    before = snapshot(a)
    records = list(a.stub.Export(a.pb2.ExportFeaturesRequest(), timeout=120))
    b = new_store(dst)
    summary = import_records(b, records)
    assert summary.views == 2
    assert summary.rows == sum(len(r.rows.rows) for r in records if r.WhichOneof("record") == "rows")
    assert snapshot(b) == before
    # and back again into a fresh store of the first kind
    c = new_store(src)
    import_records(c, list(b.stub.Export(b.pb2.ExportFeaturesRequest(), timeout=120)))
    assert snapshot(c) == before


def test_import_twice_changes_nothing(store):
    fill(store)
    before = snapshot(store)
    records = list(store.stub.Export(store.pb2.ExportFeaturesRequest(), timeout=120))
    import_records(store, records)
    assert snapshot(store) == before
