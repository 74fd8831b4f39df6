"""Feature view definitions: create, get, list with paging, delete; the same
answers from every back end."""
import grpc
import pytest

from fsclient import view


def create(store, name, features=(("age", float), ("sex", int)), entity_key="patient_id"):
    pb2 = store.pb2
    return store.stub.CreateFeatureView(
        pb2.CreateFeatureViewRequest(view=view(pb2, name, entity_key, features, description=f"{name} view")),
        timeout=10)


def test_create_get_roundtrip(store):
    pb2 = store.pb2
    made = create(store, "patients", (("age", float), ("sex", int), ("city", str), ("smoker", bool)))
    assert made.created_at.seconds > 0
    got = store.stub.GetFeatureView(pb2.GetFeatureViewRequest(name="patients"), timeout=10)
    assert got == made
    assert got.entity_key == "patient_id"
    assert got.description == "patients view"
    assert [(f.name, pb2.FeatureType.Name(f.type)) for f in got.features] == [
        ("age", "FEATURE_TYPE_DOUBLE"), ("sex", "FEATURE_TYPE_INT64"),
        ("city", "FEATURE_TYPE_STRING"), ("smoker", "FEATURE_TYPE_BOOL")]


def test_duplicate_view_is_already_exists(store):
    create(store, "dup")
    with pytest.raises(grpc.RpcError) as e:
        create(store, "dup", (("other", int),))
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "dup" in e.value.details()


def test_list_pages_in_name_order(store):
    pb2 = store.pb2
    names = [f"view_{i:02d}" for i in range(7)]
    for n in reversed(names):
        create(store, n)
    seen, token, pages = [], "", 0
    while True:
        resp = store.stub.ListFeatureViews(
            pb2.ListFeatureViewsRequest(page={"page_size": 3, "page_token": token}), timeout=10)
        seen += [v.name for v in resp.views]
        pages += 1
        token = resp.next_page_token
        if not token:
            break
    assert seen == names
    assert pages == 3
    everything = store.stub.ListFeatureViews(pb2.ListFeatureViewsRequest(), timeout=10)
    assert [v.name for v in everything.views] == names and not everything.next_page_token


def test_delete_then_not_found(store):
    pb2 = store.pb2
    create(store, "gone")
    store.stub.DeleteFeatureView(pb2.DeleteFeatureViewRequest(name="gone"), timeout=10)
    for call in (lambda: store.stub.GetFeatureView(pb2.GetFeatureViewRequest(name="gone"), timeout=10),
                 lambda: store.stub.DeleteFeatureView(pb2.DeleteFeatureViewRequest(name="gone"), timeout=10)):
        with pytest.raises(grpc.RpcError) as e:
            call()
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert '"gone"' in e.value.details()
    assert store.stub.ListFeatureViews(pb2.ListFeatureViewsRequest(), timeout=10).views == []
    create(store, "gone", (("x", str),))  # the name can be used again, with no old rows


def test_unknown_view_is_not_found_naming_it(store):
    pb2 = store.pb2
    calls = [
        lambda: store.stub.GetFeatureView(pb2.GetFeatureViewRequest(name="nosuch"), timeout=10),
        lambda: store.stub.GetOnlineFeatures(pb2.GetOnlineFeaturesRequest(view="nosuch", entity_keys=["a"]),
                                             timeout=10),
        lambda: list(store.stub.ReadView(pb2.ReadViewRequest(view="nosuch"), timeout=10)),
        lambda: store.stub.WriteRows(iter([pb2.WriteRowsRequest(view="nosuch", rows=[])]), timeout=10),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as e:
            call()
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert '"nosuch"' in e.value.details()
