"""Client-side helpers of the contract suite: build views and rows from plain
Python values, and read responses back into plain Python values, so that the
tests compare data, not messages."""
from google.protobuf.timestamp_pb2 import Timestamp

TYPES = {int: "FEATURE_TYPE_INT64", float: "FEATURE_TYPE_DOUBLE", str: "FEATURE_TYPE_STRING",
         bool: "FEATURE_TYPE_BOOL"}


def view(pb2, name, entity_key, features, description=""):
    """features: [(name, python type)]."""
    return pb2.FeatureView(name=name, entity_key=entity_key, description=description,
                           features=[pb2.FeatureSpec(name=n, type=TYPES[t]) for n, t in features])


def value(pb2, v):
    if isinstance(v, bool):
        return pb2.FeatureValue(bool_value=v)
    if isinstance(v, int):
        return pb2.FeatureValue(int64_value=v)
    if isinstance(v, float):
        return pb2.FeatureValue(double_value=v)
    return pb2.FeatureValue(string_value=v)


def unvalue(fv):
    kind = fv.WhichOneof("kind")
    return None if kind is None else getattr(fv, kind)


def ts(seconds, nanos=0):
    return Timestamp(seconds=seconds, nanos=nanos)


def row(pb2, key, values, seconds=None, nanos=0):
    r = pb2.FeatureRow(entity_key=key, values={k: value(pb2, v) for k, v in values.items()})
    if seconds is not None:
        r.event_time.CopyFrom(ts(seconds, nanos))
    return r


def write(store, view_name, batches):
    """Streams one WriteRowsRequest per batch of rows; returns rows_written."""
    pb2 = store.pb2
    reqs = (pb2.WriteRowsRequest(view=view_name, rows=b) for b in batches)
    return store.stub.WriteRows(reqs, timeout=60).rows_written


def online(store, view_name, keys, features=()):
    """{key: {feature: (value, status name, (sec, nanos))}} plus the feature order."""
    pb2 = store.pb2
    resp = store.stub.GetOnlineFeatures(
        pb2.GetOnlineFeaturesRequest(view=view_name, entity_keys=keys, feature_names=features), timeout=30)
    out = []
    for v in resp.vectors:
        out.append((v.entity_key, [(unvalue(x), pb2.ValueStatus.Name(s), (t.seconds, t.nanos))
                                   for x, s, t in zip(v.values, v.statuses, v.event_times)]))
    return list(resp.feature_names), out


def read_view(store, view_name, features=()):
    """{key: ((sec, nanos), {feature: value})} of every row ReadView streams."""
    pb2 = store.pb2
    rows = {}
    for r in store.stub.ReadView(pb2.ReadViewRequest(view=view_name, feature_names=features), timeout=120):
        assert r.entity_key not in rows, f"ReadView sent {r.entity_key} twice"
        rows[r.entity_key] = ((r.event_time.seconds, r.event_time.nanos),
                              {k: unvalue(v) for k, v in r.values.items()})
    return rows


def export(store):
    """Export as plain data: [("view", name, entity_key, [(feature, type)]) | ("rows", view, [...])]."""
    out = []
    for rec in store.stub.Export(store.pb2.ExportFeaturesRequest(), timeout=120):
        if rec.WhichOneof("record") == "view":
            v = rec.view
            out.append(("view", v.name, v.entity_key, [(f.name, f.type) for f in v.features],
                        (v.created_at.seconds, v.created_at.nanos)))
        else:
            out.append(("rows", rec.rows.view,
                        [(r.entity_key, (r.event_time.seconds, r.event_time.nanos),
                          sorted((k, unvalue(v)) for k, v in r.values.items())) for r in rec.rows.rows]))
    return out


def import_records(store, records):
    return store.stub.Import(iter(records), timeout=120)
