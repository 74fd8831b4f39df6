"""A real public data set through the shim: liblinear's heart_scale (270
patients, 13 scaled features, label +1/-1; Statlog Heart from the UCI
repository), shipped by the Debian package liblinear-tools at
/usr/share/doc/liblinear-tools/examples/heart_scale. Loaded into every back
end and read back exactly; the issue-4 demo trains on the same view."""
import os

from fsclient import online, read_view, row, view, write

HEART_SCALE = "/usr/share/doc/liblinear-tools/examples/heart_scale"


def load_libsvm(path):
    """[(label, {index: value})] of a LIBSVM/liblinear sparse text file."""
    assert os.path.exists(path), f"{path} is missing: install liblinear-tools (scripts/setup.sh does)"
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts:
                out.append((int(float(parts[0])), {int(k): float(v) for k, v in (p.split(":") for p in parts[1:])}))
    return out


def test_heart_scale_roundtrip(store):
    pb2 = store.pb2
    data = load_libsvm(HEART_SCALE)
    assert len(data) == 270
    n_feat = max(max(x) for _, x in data)
    assert n_feat == 13
    feats = [("label", int)] + [(f"f{i}", float) for i in range(1, n_feat + 1)]
    store.stub.CreateFeatureView(pb2.CreateFeatureViewRequest(
        view=view(pb2, "heart_scale", "patient", feats, description="liblinear heart_scale")), timeout=10)
    rows = [row(pb2, f"p{i:03d}", {"label": y, **{f"f{k}": v for k, v in x.items()}}, seconds=1_600_000_000)
            for i, (y, x) in enumerate(data)]
    assert write(store, "heart_scale", [rows[i:i + 100] for i in range(0, len(rows), 100)]) == 270
    got = read_view(store, "heart_scale")
    assert got == {f"p{i:03d}": ((1_600_000_000, 0), {"label": y, **{f"f{k}": v for k, v in x.items()}})
                   for i, (y, x) in enumerate(data)}
    assert sum(1 for _, (_, v) in got.items() if v["label"] == 1) == 120  # the data set's class balance
    names, vecs = online(store, "heart_scale", ["p000"], ["label", "f1", "f13"])
    assert vecs[0][1][0][0] == data[0][0] and vecs[0][1][1][0] == data[0][1][1]
