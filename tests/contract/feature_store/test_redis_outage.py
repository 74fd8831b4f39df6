"""Redis stopped under a running shim: UNAVAILABLE with a clear message while
it is down, recovery without restarting the shim when it is back, and every
acknowledged row still there (appendfsync always; the server is SIGKILLed)."""
import time

import grpc
import pytest

from conftest import Redis
from fsclient import online, read_view, row, view, write


def test_unavailable_then_recovers_without_losing_acknowledged_rows(new_store, tmp_path):
    redis = Redis(tmp_path / "own-redis").start()
    try:
        store = new_store("redis", redis=redis)
        pb2 = store.pb2
        store.stub.CreateFeatureView(pb2.CreateFeatureViewRequest(
            view=view(pb2, "events", "id", (("n", int),))), timeout=10)
        acked = 0
        for b in range(20):
            acked += write(store, "events", [[row(pb2, f"e{b:02d}_{i:03d}", {"n": b * 1000 + i}, seconds=b)
                                              for i in range(100)]])
        assert acked == 2000

        redis.kill()
        for call in (lambda: online(store, "events", ["e00_000"]),
                     lambda: write(store, "events", [[row(pb2, "late", {"n": 1}, seconds=1)]]),
                     lambda: store.stub.ListFeatureViews(pb2.ListFeatureViewsRequest(), timeout=10)):
            with pytest.raises(grpc.RpcError) as e:
                call()
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value.details()
            assert "Redis" in e.value.details() and redis.addr in e.value.details(), e.value.details()

        redis.start()  # same data dir, same port
        deadline = time.monotonic() + 20
        while True:
            try:
                got = read_view(store, "events")
                break
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert len(got) == acked
        assert got["e19_099"] == ((19, 0), {"n": 19099})
        assert write(store, "events", [[row(pb2, "after", {"n": 7}, seconds=1)]]) == 1
        assert online(store, "events", ["after"])[1][0][1][0][0] == 7
    finally:
        redis.stop()
