"""shimctl swap of a stateful service under load: feature_store sqlite ->
redis while the load generator writes rows (WriteRows, one new entity per
call) and reads acknowledged ones back (GetOnlineFeatures) through the
router. Zero failed calls; the state moves with Export -> Import while the
router holds the service's calls; afterwards every acknowledged row (those
written before, during and after the swap) is read back from the Redis set,
through the router and straight from a Redis-backed replica. SetWeights'
answer is lost on purpose (SHIMCTL_TEST_LOSE_ANSWER): shimctl reads back
that the router applied it and finishes the swap.

Run twice: e2e.shimctl.swap_feature_store (process environment) and
e2e.shimctl.docker.swap_feature_store (SHIMKIT_SHIMCTL_ENVIRONMENT=docker:
the replicas are containers of `shimctl build`'s images, Redis stays on the
host and is reached through the docker bridge; the old containers must be
gone afterwards)."""
import re

import pytest

from shimctl_stack import Stack, build_images, free_port, missing_feature_rows, skip_without_docker

pytestmark = skip_without_docker()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The docker environment's images of the service (nothing in the process environment)."""
    build_images(tmp_path_factory.mktemp("images"), ("feature_store", "sqlite"))


def test_feature_store_sqlite_to_redis_under_load(tmp_path, redis, images):
    rp = free_port()
    stack = Stack(tmp_path, f"""stack: stateful
router:
  listen: 127.0.0.1:{rp}
services:
  feature_store:
    implementation: sqlite
    replicas: 2
    drain_grace_ms: 2000
    implementations:
      sqlite:
        db: {tmp_path}/features.db
      redis:
        redis: "{redis.addr}"
""")
    try:
        stack.up()
        old = stack.replica_ids("feature_store-sqlite")
        acked = str(tmp_path / "acked.txt")
        load = stack.start_load("feature_store", rate=60, duration=50, acked=acked)
        stack.wait_for("rows written before the swap", lambda: stack.calls() > 60)
        # SetWeights' answer lost after the router applied it (the swap
        # benchmark's failure): shimctl must read the weights back and finish
        # the swap, not remove the set that now has the traffic.
        r = stack.run("swap", "feature_store", "--to", "redis", env={"SHIMCTL_TEST_LOSE_ANSWER": "SetWeights"})
        print(r.stdout, r.stderr)
        assert "stateful" in r.stdout and "state copied:" in r.stdout
        assert "SetWeights: DEADLINE_EXCEEDED" in r.stderr and "the router applied it" in r.stderr, r.stderr
        m = re.search(r"swapped feature_store to redis in ([0-9.]+) s \(traffic moved in (\d+) ms", r.stdout)
        assert m, r.stdout
        stack.wait_for("rows written after the swap", lambda: stack.calls("feature_store-redis")
            > 60)
        result = stack.stop_load(load)
        print("swap sqlite -> redis:", result, "swap", m.group(1), "s, hold", m.group(2), "ms")
        assert result["failed"] == 0, result
        keys = open(acked).read().split()
        assert len(keys) == result["acked"] and len(keys) > 60
        sets = {s.set.name: s for s in stack.list_sets().sets}
        assert list(sets) == ["feature_store-redis"]
        assert sets["feature_store-redis"].set.weight == 100
        st = stack.state()["sets"]
        assert list(st) == ["feature_store-redis"] and st["feature_store-redis"]["weight"] == 100
        assert not any(stack.replica_exists(r) for r in old), "the old set's replicas are still there"
        # Every acknowledged row, through the router and from a Redis replica directly.
        assert missing_feature_rows(stack.router, keys) == []
        direct = f"127.0.0.1:{stack.state()['sets']['feature_store-redis']['replicas'][0]['port']}"
        assert missing_feature_rows(direct, keys) == []
    finally:
        stack.close()


def test_failed_copy_rolls_back_under_load(tmp_path, images):
    """A swap whose copy fails (the new set's Redis is not there): the hold is
    released, the new set removed, the old one keeps every call and row."""
    rp = free_port()
    stack = Stack(tmp_path, f"""stack: rollback
router:
  listen: 127.0.0.1:{rp}
services:
  feature_store:
    implementation: sqlite
    drain_grace_ms: 1000
    implementations:
      sqlite:
        db: {tmp_path}/features.db
      redis:
        redis: "127.0.0.1:1"
""")
    try:
        stack.up()
        acked = str(tmp_path / "acked.txt")
        load = stack.start_load("feature_store", rate=50, duration=50, acked=acked)
        r = stack.run("--timeout", "10", "swap", "feature_store", "--to", "redis", check=False)
        print(r.stdout, r.stderr)
        assert r.returncode == 1
        assert "copy failed: Import into" in r.stderr and "removing feature_store-redis again" in r.stderr
        calls = stack.calls()
        stack.wait_for("more calls after the failed swap",
                       lambda: stack.calls() > calls + 30)
        result = stack.stop_load(load)
        print("failed swap:", result)
        assert result["failed"] == 0, result
        sets = stack.list_sets()
        assert [(s.set.name, s.set.weight) for s in sets.sets] == [("feature_store-sqlite", 100)]
        assert list(sets.held_services) == []
        assert list(stack.state()["sets"]) == ["feature_store-sqlite"]
        assert missing_feature_rows(stack.router, open(acked).read().split()) == []
    finally:
        stack.close()
