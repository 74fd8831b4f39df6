"""Replicas on unix sockets behind the router ("unix:PATH" backends), end to
end: real echo_shim replicas listening on unix sockets, a real router in
front of them on a loopback port, grpcio clients.

Unary calls take the relay's direct path to the sockets (one access-log line
each, naming the client's own address) and spread over both replicas; a
server stream goes through the router's gRPC server and its gRPC core
channel to the same sockets; a replica killed with SIGKILL stops getting
calls (health) and gets them again once restarted on its socket; RouterAdmin
takes a set of unix backends and lists it; malformed unix addresses are
refused with the reason."""
import signal
import time
import urllib.request

import grpc
import pytest

import shimctl_stack
from shimproc import Shim, router_command
from test_router import wait_unary_plan

ECHO = "shimkit.examples.v1.Echo"
SAY = f"/{ECHO}/Say"


@pytest.fixture
def unix_cluster(pb2, stubs, tmp_path):
    """Replicas u0, u1 on unix sockets in tmp_path, and a router in front of them."""
    reps = [Shim("--name", f"u{i}", listen=f"unix:{tmp_path}/u{i}.sock").start() for i in range(2)]
    args = []
    for s in reps:
        args += ["--backend", s.target]
    router = Shim(*args, "--health-retry-ms", "100", "--metrics-listen", "127.0.0.1:0",
                  command=router_command()).start()
    channel = grpc.insecure_channel(router.target)
    stub = stubs[1].EchoStub(channel)
    try:
        yield stub, reps, router
    finally:
        channel.close()
        rc = router.stop(30) if router.alive() else router.wait(30)
        for p in reps:
            p.kill()
    assert rc == 0, f"router exited {rc}:\n{router.log()}"
    assert "Sanitizer" not in router.log() and "runtime error" not in router.log(), router.log()


def served_by(stub, pb2, n):
    got = {}
    for i in range(n):
        r = stub.Say(pb2.EchoRequest(message=f"m{i}"), timeout=10)
        assert r.message == f"m{i}"
        got[r.served_by] = got.get(r.served_by, 0) + 1
    return got


def direct_calls(router):
    """shimkit_router_relay_direct_calls_total: calls the relay itself sent to a replica."""
    with urllib.request.urlopen(f"http://{router.metrics_address()}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("shimkit_router_relay_direct_calls_total "):
                return int(line.split()[1])
    raise AssertionError("no shimkit_router_relay_direct_calls_total in the router's metrics")


def test_unary_calls_relayed_to_unix_sockets(unix_cluster, pb2):
    stub, _, router = unix_cluster
    wait_unary_plan(stub, pb2, router)
    before = direct_calls(router)
    lines_before = len([l for l in router.log().splitlines() if f"forwarded {SAY} from ipv4:127.0.0.1:" in l])
    assert served_by(stub, pb2, 40) == {"u0": 20, "u1": 20}
    assert direct_calls(router) - before == 40  # the relay connected to the sockets itself
    deadline = time.monotonic() + 10
    lines = []
    while time.monotonic() < deadline and len(lines) < 40:
        lines = [l for l in router.log().splitlines() if f"forwarded {SAY} from ipv4:127.0.0.1:" in l][lines_before:]
        time.sleep(0.05)
    assert len(lines) == 40 and all(": OK (1 attempt," in l for l in lines), router.log()


def test_stream_through_grpc_core_to_unix_socket(unix_cluster, pb2):
    stub, _, router = unix_cluster
    before = direct_calls(router)
    call = stub.Expand(pb2.ExpandRequest(message="s", count=4), metadata=[("x-echo-trace", "t1")], timeout=10)
    assert [r.message for r in call] == ["s"] * 4
    assert ("x-echo-trace-trailer", "t1") in list(call.trailing_metadata())
    assert direct_calls(router) == before  # a stream: the router's gRPC server forwarded it


def test_killed_replica_skipped_then_back(unix_cluster, pb2):
    stub, reps, router = unix_cluster
    wait_unary_plan(stub, pb2, router)
    path = reps[1].target
    reps[1].signal(signal.SIGKILL)
    reps[1].wait(10)
    # Until its health watch notices, a call sent to u1 is refused before
    # reaching a handler and retried on u0: no call fails at any point.
    for _ in range(3):
        assert set(served_by(stub, pb2, 10)) == {"u0"}
    reps[1] = Shim("--name", "u1", listen=path).start()
    deadline = time.monotonic() + 20
    seen = set()
    while time.monotonic() < deadline and "u1" not in seen:
        seen |= set(served_by(stub, pb2, 4))
        time.sleep(0.05)
    assert "u1" in seen, router.log()


def test_admin_sets_of_unix_backends(unix_cluster, pb2):
    _, reps, router = unix_cluster
    pb, pb_grpc = shimctl_stack.admin_stubs()
    with grpc.insecure_channel(router.target) as ch:
        admin = pb_grpc.RouterAdminStub(ch)
        s = pb.Set(name="U", services=[ECHO], backends=[reps[0].target], weight=100)
        admin.ApplySet(pb.ApplySetRequest(set=s), timeout=10)
        deadline = time.monotonic() + 15
        while True:  # until its health watch, a gRPC core channel to the socket, says SERVING
            sets = admin.ListSets(pb.ListSetsRequest(), timeout=10).sets
            listed = {x.set.name: [(b.address, b.serving) for b in x.backends] for x in sets}
            if listed.get("U") == [(reps[0].target, True)] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert listed["U"] == [(reps[0].target, True)], listed
        bad = ["unix:", "unix:/tmp/with space.sock", 'unix:/tmp/q"uote.sock', "unix:/" + "x" * 120]
        for address in bad:
            with pytest.raises(grpc.RpcError) as err:
                admin.ApplySet(pb.ApplySetRequest(set=pb.Set(name="B", services=[ECHO], backends=[address])),
                               timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, address
            assert "unix:PATH" in err.value.details(), err.value.details()
