"""shimkit_router end to end, hash on a request field and reflection of the
replicas: three real echo_shim replicas behind real routers.

--policy hash --hash-field PATH: the router learns the request type of each
method from a replica's own reflection and hashes on the field's value in the
first request message. Same value, same replica (all four RPC kinds); 60
values spread over the three; a message without the field goes round robin;
nested (key.id), integer (key.shard, hashed as its decimal text) and
repeated (keys.id, its first element) fields; an unknown field leaves calls
round robin. Values hash exactly as the same bytes in another field, so
`message="7"`, `key.id="7"` and `key.shard=7` reach the same replica.

Reflection through the router: grpcurl lists, describes and calls the
replicas' services with no .proto file (v1), and grpcio's v1alpha reflection
client finds them too. Every router must exit 0 on SIGTERM."""
import os
import shlex
import subprocess

import grpc
import pytest

import shimctl_stack
from shimproc import Shim, router_command


@pytest.fixture(scope="module")
def replicas():
    reps = [Shim("--name", f"r{i}").start() for i in range(3)]
    yield reps
    for p in reps:
        p.kill()


class Router:
    def __init__(self, reps, pb2, stubs, *args):
        backends = []
        for s in reps:
            backends += ["--backend", s.target]
        self.proc = Shim(*backends, "--health-retry-ms", "100", *args, command=router_command()).start()
        self.channel = grpc.insecure_channel(self.proc.target)
        self.stub = stubs[1].EchoStub(self.channel)
        self.pb2 = pb2

    def say(self, **fields):
        return self.stub.Say(self.pb2.EchoRequest(**fields), timeout=10).served_by

    def close(self):
        self.channel.close()
        rc = self.proc.stop(30)
        log = self.proc.log()
        assert rc == 0, f"router exited {rc} on SIGTERM:\n{log}"
        assert "Sanitizer" not in log and "runtime error" not in log, log


def wait_serving(r, n_replicas=3):
    """Until every replica serves (round robin calls, no field set)."""
    import time
    deadline = time.monotonic() + 15
    seen = set()
    while time.monotonic() < deadline and len(seen) < n_replicas:
        try:
            seen.add(r.say())
        except grpc.RpcError:
            time.sleep(0.05)
    assert len(seen) == n_replicas, seen


@pytest.fixture
def router_on(replicas, pb2, stubs):
    started = []

    def make(*args):
        r = Router(replicas, pb2, stubs, *args)
        started.append(r)
        wait_serving(r)
        return r

    yield make
    for r in started:
        r.close()


def test_same_value_same_replica_all_kinds(router_on, pb2):
    r = router_on("--policy", "hash", "--hash-field", "message")
    for value in ["alice", "bob", "carol", "dave", "erin"]:
        owner = {r.say(message=value) for _ in range(10)}
        assert len(owner) == 1, (value, owner)
        owner = owner.pop()
        # The other kinds: Expand's ExpandRequest has a `message` too; Collect and
        # Chat hash on their first EchoRequest.
        expand = list(r.stub.Expand(pb2.ExpandRequest(message=value, count=2), timeout=10))
        assert {x.served_by for x in expand} == {owner}
        chat = list(r.stub.Chat(iter([pb2.EchoRequest(message=value), pb2.EchoRequest(message="other")]),
                                timeout=10))
        assert {x.served_by for x in chat} == {owner}
        collect = r.stub.Collect(iter([pb2.EchoRequest(message=value), pb2.EchoRequest(message="x")]), timeout=10)
        assert collect.joined == f"{value} x"
    r.proc.wait_log("hashing on field message")


def test_values_spread(router_on):
    r = router_on("--policy", "hash", "--hash-field", "message")
    owners = {f"model-{i}": r.say(message=f"model-{i}") for i in range(60)}
    counts = {}
    for o in owners.values():
        counts[o] = counts.get(o, 0) + 1
    # Expected 20 each; the ports (hence the scores) differ per run: a wide margin.
    assert set(counts) == {"r0", "r1", "r2"} and min(counts.values()) >= 5, counts
    # And stable: asked again, every value has the same owner.
    assert all(r.say(message=v) == o for v, o in owners.items())


def test_without_the_field_round_robin(router_on):
    r = router_on("--policy", "hash", "--hash-field", "message")
    served = [r.say(delay_ms=0) for _ in range(30)]
    assert {served.count(x) for x in ("r0", "r1", "r2")} == {10}, served
    assert r.proc.wait_log("a request without the hash field").count("a request without the hash field") == 1


def test_nested_integer_and_repeated_fields(router_on, pb2):
    by_message = router_on("--policy", "hash", "--hash-field", "message")
    by_id = router_on("--policy", "hash", "--hash-field", "key.id")
    by_shard = router_on("--policy", "hash", "--hash-field", "key.shard")
    by_first = router_on("--policy", "hash", "--hash-field", "keys.id")
    for i in range(20):
        v = str(1000 + i * 7)
        want = by_message.say(message=v)
        assert by_id.say(message="x", key=pb2.EchoKey(id=v)) == want, v
        assert by_shard.say(key=pb2.EchoKey(shard=int(v))) == want, v
        assert by_first.say(keys=[pb2.EchoKey(id=v), pb2.EchoKey(id="second")]) == want, v
    # The shard is its decimal text, a negative one too.
    assert by_shard.say(key=pb2.EchoKey(shard=-5)) == by_message.say(message="-5")
    for r in (by_id, by_shard, by_first):
        assert "1 step" not in r.proc.wait_log("2 steps")


def test_unknown_field_round_robin(router_on):
    r = router_on("--policy", "hash", "--hash-field", "no_such_field")
    served = [r.say(message="same") for _ in range(30)]
    assert {served.count(x) for x in ("r0", "r1", "r2")} == {10}, served
    log = r.proc.wait_log("cannot hash on field no_such_field")
    assert log.count("cannot hash on field no_such_field") == 1, log
    assert "has no field no_such_field" in log


def test_bad_hash_field_flags(replicas):
    argv = router_command() + ["--listen", "127.0.0.1:0", "--backend", replicas[0].target]
    for extra, why in [(["--policy", "hash", "--hash-field", "a..b"], "--hash-field must be"),
                       (["--policy", "hash", "--hash-field", "a", "--hash-key", "x-user"], "exclude each other"),
                       (["--hash-field", "message"], "--policy hash goes with")]:
        out = subprocess.run(argv + extra, capture_output=True, text=True, timeout=30)
        assert out.returncode == 2 and why in out.stderr, (extra, out.stderr)


def grpcurl(*args):
    exe = os.environ.get("SHIMKIT_GRPCURL")
    if not exe or not os.path.exists(exe):
        pytest.fail("SHIMKIT_GRPCURL not set or missing: run scripts/setup.sh")
    return subprocess.run([exe, "-plaintext", *args], capture_output=True, text=True, timeout=30)


def test_reflection_through_the_router(router_on):
    r = router_on()
    target = r.proc.target
    out = grpcurl(target, "list")
    assert out.returncode == 0, out.stderr
    names = out.stdout.split()
    assert "shimkit.examples.v1.Echo" in names and "grpc.health.v1.Health" in names, names
    assert len(names) == len(set(names)), names
    out = grpcurl(target, "describe", "shimkit.examples.v1.Echo")
    assert out.returncode == 0 and "rpc Say" in out.stdout, out.stdout + out.stderr
    out = grpcurl(target, "describe", "shimkit.examples.v1.EchoRequest")
    assert out.returncode == 0 and "EchoKey key = 5" in out.stdout, out.stdout + out.stderr
    out = grpcurl("-d", '{"message":"hi"}', target, "shimkit.examples.v1.Echo/Say")
    assert out.returncode == 0 and '"message": "hi"' in out.stdout, out.stdout + out.stderr
    # A name nobody knows: NOT_FOUND from reflection, grpcurl says so.
    out = grpcurl(target, "describe", "no.such.Thing")
    assert out.returncode != 0 and "no.such.Thing" in out.stderr


def test_reflection_v1alpha_through_the_router(router_on):
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    r = router_on()
    with grpc.insecure_channel(r.proc.target) as ch:
        db = ProtoReflectionDescriptorDatabase(ch)
        assert "shimkit.examples.v1.Echo" in db.get_services()
        pool = DescriptorPool(db)
        svc = pool.FindServiceByName("shimkit.examples.v1.Echo")
        assert svc.FindMethodByName("Say").input_type.full_name == "shimkit.examples.v1.EchoRequest"


# ---- sets applied at run time (RouterAdmin): hash_field and reflection per set ----

ECHO = "shimkit.examples.v1.Echo"
TRAINING = "shimkit.ml.v1.Training"


@pytest.fixture(scope="module")
def admin_stubs():
    """(admin_pb2, admin_pb2_grpc), generated from proto/shimkit/router/v1/admin.proto."""
    return shimctl_stack.admin_stubs()


@pytest.fixture
def admin_router(pb2, stubs, admin_stubs, tmp_path):
    """A router with no --backend (sets come from RouterAdmin) and its stubs."""
    proc = Shim("--state", str(tmp_path / "router.state"), "--health-retry-ms", "100",
                command=router_command()).start()
    channel = grpc.insecure_channel(proc.target)
    yield proc, stubs[1].EchoStub(channel), admin_stubs[1].RouterAdminStub(channel)
    channel.close()
    rc = proc.stop(30)
    log = proc.log()
    assert rc == 0, f"router exited {rc} on SIGTERM:\n{log}"
    assert "Sanitizer" not in log and "runtime error" not in log, log


def apply_set(admin, admin_stubs, name, services, backends, **kw):
    pb = admin_stubs[0]
    s = pb.Set(name=name, services=services, backends=[b.target for b in backends], weight=100, **kw)
    admin.ApplySet(pb.ApplySetRequest(set=s), timeout=10)


def wait_sets_serving(admin, admin_stubs):
    import time
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        sets = admin.ListSets(admin_stubs[0].ListSetsRequest(), timeout=10).sets
        if sets and all(b.serving for s in sets for b in s.backends):
            return
        time.sleep(0.05)
    raise AssertionError("sets not serving")


def test_admin_set_hash_field(admin_router, replicas, pb2, admin_stubs):
    proc, echo, admin = admin_router
    pb = admin_stubs[0]
    apply_set(admin, admin_stubs, "echo-hash", [ECHO], replicas, policy=pb.HASH, hash_field="message")
    wait_sets_serving(admin, admin_stubs)
    owners = {}
    for i in range(30):
        v = f"v{i}"
        got = {echo.Say(pb2.EchoRequest(message=v), timeout=10).served_by for _ in range(3)}
        assert len(got) == 1, (v, got)
        owners[v] = got.pop()
    assert len(set(owners.values())) >= 2, owners
    # The set changes its field: the router learns the new path (a fresh cache).
    apply_set(admin, admin_stubs, "echo-hash", [ECHO], replicas, policy=pb.HASH, hash_field="key.id")
    for v, owner in owners.items():
        assert echo.Say(pb2.EchoRequest(message="x", key=pb2.EchoKey(id=v)), timeout=10).served_by == owner, v
    # A bad field path is refused by ApplySet.
    with pytest.raises(grpc.RpcError) as err:
        apply_set(admin, admin_stubs, "echo-hash", [ECHO], replicas, policy=pb.HASH, hash_field="key..id")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    proc.wait_log("hashing on field message")
    proc.wait_log("hashing on field key.id")


def test_reflection_of_several_sets(admin_router, replicas, admin_stubs):
    training = os.environ.get("SHIMKIT_TRAINING_SHIM")
    if not training:
        pytest.skip("SHIMKIT_TRAINING_SHIM not set (no training_shim target)")
    proc, _, admin = admin_router
    # A second service behind the router: training_shim (its model repository is never called here).
    t = Shim("--model-repository", "127.0.0.1:1", command=shlex.split(training)).start()
    try:
        apply_set(admin, admin_stubs, "echo", [ECHO], replicas[:2])
        apply_set(admin, admin_stubs, "training", [TRAINING], [t])
        wait_sets_serving(admin, admin_stubs)
        out = grpcurl(proc.target, "list")
        assert out.returncode == 0, out.stderr
        names = out.stdout.split()
        for want in (ECHO, TRAINING, "shimkit.router.v1.RouterAdmin", "grpc.health.v1.Health"):
            assert want in names, names
        assert len(names) == len(set(names)), names
        out = grpcurl(proc.target, "describe", TRAINING)
        assert out.returncode == 0 and "service Training" in out.stdout, out.stdout + out.stderr
        out = grpcurl(proc.target, "describe", ECHO + ".Say")
        assert out.returncode == 0 and "rpc Say" in out.stdout, out.stdout + out.stderr
        # The echo set goes away: its service leaves the list (the sets changed).
        admin.RemoveSet(admin_stubs[0].RemoveSetRequest(name="echo"), timeout=10)
        names = grpcurl(proc.target, "list").stdout.split()
        assert TRAINING in names and ECHO not in names, names
    finally:
        t.kill()
