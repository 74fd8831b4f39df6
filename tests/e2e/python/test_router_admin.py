"""shimkit_router's sets managed at run time, end to end: real echo_shim
replicas behind a real router, driven through shimkit.router.v1.RouterAdmin
with grpcio stubs generated now from proto/shimkit/router/v1/admin.proto.

Sets applied and listed; weights 100/0, 50/50, 0/100 moving calls between
two sets; a set removed; a replaced set keeping the replicas that stay; a
held service whose calls wait and then all complete, 50 of them on a
router with 4 workers while RouterAdmin answers at once, and a held call
whose deadline passes or whose client cancels ending at once, never
forwarded; the --state file
bringing back the same sets and weights after a SIGKILL of the router; bad
admin requests and bad state files refused with a clear status; per-backend
metrics; a replica SIGKILLed while its handler runs failing its call
UNAVAILABLE instead of replaying it elsewhere. The router must exit 0 on
SIGTERM (and print no sanitizer report) after every test."""
import concurrent.futures
import re
import signal
import subprocess
import time
import urllib.request

import grpc
import pytest

import shimctl_stack
from shimproc import Shim, router_command

ECHO = "shimkit.examples.v1.Echo"
SAY = f"/{ECHO}/Say"
SAY_LOGGED = f'"method":"{SAY}"'  # in a replica's access log: it served a Say
# A hold far longer than anything a test waits for: a call still held, or a
# router that waits out the hold, is told apart from one that does not by the
# outcome (status, log, counts), not by how long anything took.
LONG_HOLD_MS = 600_000


@pytest.fixture(scope="session")
def admin():
    """(admin_pb2, admin_pb2_grpc), generated from proto/shimkit/router/v1/admin.proto."""
    return shimctl_stack.admin_stubs()


class Router:
    """A router (with --state in tmp) plus an Echo and a RouterAdmin stub on it."""

    def __init__(self, stubs, admin, state, *args):
        self.stubs, self.admin_mod, self.state, self.args = stubs, admin, state, args
        self.proc = None

    def start(self):
        self.proc = Shim("--state", str(self.state), "--health-retry-ms", "100", *self.args,
                         command=router_command()).start()
        self.channel = grpc.insecure_channel(self.proc.target)
        self.echo = self.stubs[1].EchoStub(self.channel)
        self.admin = self.admin_mod[1].RouterAdminStub(self.channel)
        return self

    def stop(self):
        self.channel.close()
        rc = self.proc.stop(30)
        log = self.proc.log()
        assert rc == 0, f"router exited {rc} on SIGTERM:\n{log}"
        assert "Sanitizer" not in log and "runtime error" not in log, log

    def kill(self):
        self.channel.close()
        self.proc.kill()


@pytest.fixture
def replicas():
    """Four echo replicas: a0, a1 (for set A) and b0, b1 (for set B); with
    --metrics-listen, so that a test can wait for a call to be in a replica's
    handler (Shim.wait_in_flight)."""
    reps = {name: Shim("--name", name, "--metrics-listen", "127.0.0.1:0").start()
            for name in ("a0", "a1", "b0", "b1")}
    yield reps
    for s in reps.values():
        s.kill()


@pytest.fixture
def router(stubs, admin, tmp_path):
    started = []

    def make(*args, state=None):
        r = Router(stubs, admin, state or tmp_path / "router.state", *args).start()
        started.append(r)
        return r

    yield make
    for r in started:
        if r.proc.alive():
            r.stop()


def apply(r, admin, name, reps, names, weight, services=(ECHO,), **kw):
    pb = admin[0]
    s = pb.Set(name=name, services=list(services), backends=[reps[n].target for n in names], weight=weight, **kw)
    return r.admin.ApplySet(pb.ApplySetRequest(set=s), timeout=10)


def wait_serving(r, admin, timeout=15.0):
    """Until every backend of every set is SERVING in ListSets."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sets = r.admin.ListSets(admin[0].ListSetsRequest(), timeout=10).sets
        if all(b.serving for s in sets for b in s.backends):
            return sets
        time.sleep(0.05)
    raise AssertionError(f"not all backends SERVING: {sets}")


def served(r, pb2, n):
    counts = {}
    for i in range(n):
        who = r.echo.Say(pb2.EchoRequest(message=f"m{i}"), timeout=10).served_by
        counts[who] = counts.get(who, 0) + 1
    return counts


def sets_of(counts):
    return {name[0].upper() for name in counts}


def test_apply_list_weights_and_remove(router, replicas, admin, pb2):
    r = router()
    st = apply(r, admin, "A", replicas, ["a0", "a1"], 100)
    assert st.set.name == "A" and [b.address for b in st.backends] == [replicas["a0"].target,
                                                                        replicas["a1"].target]
    apply(r, admin, "B", replicas, ["b0", "b1"], 0)
    sets = wait_serving(r, admin)
    assert [(s.set.name, s.set.weight, list(s.set.services)) for s in sets] == [("A", 100, [ECHO]),
                                                                                ("B", 0, [ECHO])]
    # 100/0: every call to A, round robin over its two replicas.
    assert served(r, pb2, 20) == {"a0": 10, "a1": 10}

    # 50/50: smooth weighted round robin alternates A and B.
    resp = r.admin.SetWeights(admin[0].SetWeightsRequest(service=ECHO, weights={"A": 50, "B": 50}), timeout=10)
    assert sorted((s.set.name, s.set.weight) for s in resp.sets) == [("A", 50), ("B", 50)]
    counts = served(r, pb2, 20)
    assert sum(v for k, v in counts.items() if k[0] == "a") == 10, counts
    assert sum(v for k, v in counts.items() if k[0] == "b") == 10, counts

    # 0/100: everything moves to B.
    r.admin.SetWeights(admin[0].SetWeightsRequest(service=ECHO, weights={"A": 0, "B": 100}), timeout=10)
    assert served(r, pb2, 20) == {"b0": 10, "b1": 10}

    # Removing B: calls go to A again (B had all the weight; A is the only set left).
    r.admin.RemoveSet(admin[0].RemoveSetRequest(name="B"), timeout=10)
    sets = r.admin.ListSets(admin[0].ListSetsRequest(), timeout=10).sets
    assert [s.set.name for s in sets] == ["A"]
    assert sets_of(served(r, pb2, 10)) == {"A"}
    r.proc.wait_log("removed set B")


def test_services_route_and_catch_all(router, replicas, admin, pb2):
    """--backend makes the catch-all set "default"; a set listing Echo takes Echo's calls."""
    r = router("--backend", replicas["b0"].target)
    wait_serving(r, admin)
    sets = r.admin.ListSets(admin[0].ListSetsRequest(), timeout=10).sets
    assert [(s.set.name, list(s.set.services)) for s in sets] == [("default", [])]
    assert served(r, pb2, 3) == {"b0": 3}
    apply(r, admin, "A", replicas, ["a0"], 100)
    wait_serving(r, admin)
    assert served(r, pb2, 3) == {"a0": 3}
    # A set for another service leaves Echo where it is.
    apply(r, admin, "other", replicas, ["a1"], 100, services=("pkg.Other",))
    wait_serving(r, admin)
    assert served(r, pb2, 3) == {"a0": 3}


def test_replace_keeps_staying_replicas(router, replicas, admin, pb2):
    r = router()
    apply(r, admin, "A", replicas, ["a0", "a1"], 100)
    wait_serving(r, admin)
    served(r, pb2, 10)
    # Two slow calls on the set (round robin: one on a0, one on a1), then the
    # set replaced while both run: a1 stays, a0 leaves, b0 joins. The replace
    # comes only once a0's handler really has its call (its in-flight gauge),
    # and the calls take 5 s, far longer than the replace.
    slow = [r.echo.Say.future(pb2.EchoRequest(message=f"slow{i}", delay_ms=5000), timeout=60) for i in range(2)]
    replicas["a0"].wait_in_flight(SAY)
    replicas["a1"].wait_in_flight(SAY)
    st = apply(r, admin, "A", replicas, ["a1", "b0"], 100)
    a1 = [b for b in st.backends if b.address == replicas["a1"].target][0]
    assert a1.serving and a1.calls >= 5, st  # the same replica object: health and counters kept
    # The call on the leaving replica (and the one on the staying one) finished.
    assert sorted(c.result().message for c in slow) == ["slow0", "slow1"]
    wait_serving(r, admin)
    assert set(served(r, pb2, 10)) == {"a1", "b0"}


def test_hold_waits_then_all_complete(router, replicas, admin, pb2):
    r = router()
    apply(r, admin, "A", replicas, ["a0"], 100)
    wait_serving(r, admin)
    pb = admin[0]
    r.admin.HoldService(pb.HoldServiceRequest(service=ECHO, hold=True, hold_timeout_ms=60000), timeout=10)
    assert list(r.admin.ListSets(pb.ListSetsRequest(), timeout=10).held_services) == [ECHO]
    calls = [r.echo.Say.future(pb2.EchoRequest(message=f"h{i}"), timeout=60) for i in range(5)]
    deadline = time.monotonic() + 20
    held = 0
    while time.monotonic() < deadline and held < 5:
        held = r.admin.HoldService(pb.HoldServiceRequest(service=ECHO, hold=True, hold_timeout_ms=60000),
                                   timeout=10).held_calls
        time.sleep(0.05)
    assert held == 5
    assert not any(c.done() for c in calls)
    # Meanwhile the admin API and other services still answer.
    resp = r.admin.HoldService(pb.HoldServiceRequest(service=ECHO, hold=False), timeout=10)
    assert resp.held_calls == 5
    assert [c.result().message for c in calls] == [f"h{i}" for i in range(5)]
    assert list(r.admin.ListSets(pb.ListSetsRequest(), timeout=10).held_services) == []


def test_hold_lapses_by_itself(router, replicas, admin, pb2):
    r = router()
    apply(r, admin, "A", replicas, ["a0"], 100)
    wait_serving(r, admin)
    r.admin.HoldService(admin[0].HoldServiceRequest(service=ECHO, hold=True, hold_timeout_ms=300), timeout=10)
    assert r.echo.Say(pb2.EchoRequest(message="late"), timeout=30).message == "late"


def held_calls(r, pb, hold_ms=60000):
    return r.admin.HoldService(pb.HoldServiceRequest(service=ECHO, hold=True, hold_timeout_ms=hold_ms),
                               timeout=10).held_calls


def backend_calls(r, pb):
    return sum(b.calls for s in r.admin.ListSets(pb.ListSetsRequest(), timeout=10).sets for b in s.backends)


def wait_held(r, pb, want, hold_ms=60000, timeout=20.0):
    """Until HoldService counts want calls held (re-arming the hold each time)."""
    deadline = time.monotonic() + timeout
    held = held_calls(r, pb, hold_ms)
    while held != want and time.monotonic() < deadline:
        time.sleep(0.02)
        held = held_calls(r, pb, hold_ms)
    assert held == want, f"{held} calls held, not {want}:\n{r.proc.log()}"


def not_blocked(what, fn):
    """fn(), an admin call with a deadline of many seconds (each passes one of
    10 s) while calls are held for 10 minutes: one that waited for a worker
    held calls took would end DEADLINE_EXCEEDED instead."""
    try:
        return fn()
    except grpc.RpcError as e:
        raise AssertionError(f"{what} did not answer while calls were held: {e.code()} {e.details()}") from e


def test_held_calls_hold_no_worker(router, replicas, admin, pb2):
    """With 4 workers, 50 held calls all wait and RouterAdmin still answers
    (the swap benchmark's failure: held calls took every worker, so
    SetWeights and the release could not run). The calls are held for
    10 minutes, and every admin call has a 10 s deadline: blocked behind the
    held calls, it would fail DEADLINE_EXCEEDED long before any of them let
    a worker go."""
    r = router("--workers", "4")
    apply(r, admin, "A", replicas, ["a0"], 100)
    apply(r, admin, "B", replicas, ["b0"], 0)
    wait_serving(r, admin)
    pb = admin[0]
    hold = lambda: held_calls(r, pb, LONG_HOLD_MS)  # noqa: E731
    not_blocked("HoldService", hold)
    calls = [r.echo.Say.future(pb2.EchoRequest(message=f"w{i}"), timeout=LONG_HOLD_MS / 1000)
             for i in range(50)]
    deadline = time.monotonic() + 20
    held = 0
    while time.monotonic() < deadline and held < 50:
        held = not_blocked(f"HoldService (with {held} calls held)", hold)
        time.sleep(0.05)
    assert held == 50
    listed = not_blocked("ListSets", lambda: r.admin.ListSets(pb.ListSetsRequest(), timeout=10))
    assert list(listed.held_services) == [ECHO]
    not_blocked("SetWeights", lambda: r.admin.SetWeights(
        pb.SetWeightsRequest(service=ECHO, weights={"A": 0, "B": 100}), timeout=10))
    assert not any(c.done() for c in calls)
    resp = not_blocked("HoldService release", lambda: r.admin.HoldService(
        pb.HoldServiceRequest(service=ECHO, hold=False), timeout=10))
    assert resp.held_calls == 50
    results = [c.result() for c in calls]  # raises on any failed call
    assert [x.message for x in results] == [f"w{i}" for i in range(50)]
    assert {x.served_by for x in results} == {"b0"}  # released after SetWeights: the new set


def test_held_call_ends_at_its_deadline_not_forwarded(router, replicas, admin, pb2):
    """A held call whose deadline passes, or whose client cancels, ends then
    in the router (its hold count goes back to 0, the router logs how it
    ended) and is never forwarded. The hold lasts 10 minutes: a router that
    kept the call until the hold lapsed would still count it held, and would
    then forward it."""
    r = router("--workers", "4")
    apply(r, admin, "A", replicas, ["a0"], 100)
    wait_serving(r, admin)
    pb = admin[0]
    before = backend_calls(r, pb)
    held_calls(r, pb, LONG_HOLD_MS)
    # A deadline of 5 s: long enough to reach the router and be held on a busy
    # machine, far shorter than the hold.
    late = r.echo.Say.future(pb2.EchoRequest(message="late"), timeout=5)
    with pytest.raises(grpc.RpcError) as err:
        late.result()
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The router ended it while held: DEADLINE_EXCEEDED, or CANCELLED when the
    # client's own timer (it fires first) cancelled the stream before the
    # router's copy of the deadline passed.
    log = r.proc.wait_log("ended while held, not forwarded:")
    assert re.search(r"Say from \S+ ended while held, not forwarded: (DEADLINE_EXCEEDED|CANCELLED)", log), log
    wait_held(r, pb, 0, LONG_HOLD_MS)
    # A client that cancels while held: the router lets it go too.
    call = r.echo.Say.future(pb2.EchoRequest(message="gone"), timeout=LONG_HOLD_MS / 1000)
    wait_held(r, pb, 1, LONG_HOLD_MS)
    call.cancel()
    log = r.proc.wait_log("ended while held, not forwarded:", count=2)
    assert log.split("ended while held, not forwarded:")[2].startswith(" CANCELLED"), log
    wait_held(r, pb, 0, LONG_HOLD_MS)
    assert r.admin.HoldService(pb.HoldServiceRequest(service=ECHO, hold=False), timeout=10).held_calls == 0
    assert backend_calls(r, pb) == before  # neither was forwarded
    assert SAY_LOGGED not in replicas["a0"].log()
    assert r.echo.Say(pb2.EchoRequest(message="after"), timeout=10).message == "after"
    assert backend_calls(r, pb) == before + 1


def test_drain_with_held_calls(router, replicas, admin, pb2):
    """SIGTERM while calls are held: the drain cancels them after its grace,
    the router exits 0 (and, under ASan, leaks nothing). The calls are held
    for 10 minutes (and may wait as long), so a drain that waited out the hold
    would not exit within Router.stop's 30 s: the calls end UNAVAILABLE or
    CANCELLED, ended while held, never forwarded."""
    r = router("--workers", "4", "--drain-grace-ms", "300")
    apply(r, admin, "A", replicas, ["a0"], 100)
    wait_serving(r, admin)
    pb = admin[0]
    held_calls(r, pb, LONG_HOLD_MS)
    calls = [r.echo.Say.future(pb2.EchoRequest(message=f"d{i}"), timeout=LONG_HOLD_MS / 1000) for i in range(10)]
    wait_held(r, pb, 10, LONG_HOLD_MS)
    r.stop()  # asserts exit 0 (within 30 s) and no sanitizer report
    for c in calls:
        assert c.exception() is not None and c.exception().code() in (grpc.StatusCode.UNAVAILABLE,
                                                                      grpc.StatusCode.CANCELLED)
    log = r.proc.log()
    assert log.count("ended while held, not forwarded") == 10, log
    assert SAY_LOGGED not in replicas["a0"].log()  # none was forwarded


def listing(r, admin):
    return [(s.set.name, list(s.set.services), list(s.set.backends), s.set.policy, s.set.hash_key, s.set.weight)
            for s in r.admin.ListSets(admin[0].ListSetsRequest(), timeout=10).sets]


def test_state_survives_sigkill(router, replicas, admin, pb2, tmp_path):
    state = tmp_path / "kept.state"
    r = router(state=state)
    apply(r, admin, "A", replicas, ["a0", "a1"], 30)
    apply(r, admin, "B", replicas, ["b0"], 0, policy=admin[0].HASH, hash_key="x-user")
    r.admin.SetWeights(admin[0].SetWeightsRequest(service=ECHO, weights={"B": 70}), timeout=10)
    before = listing(r, admin)
    assert [(x[0], x[5]) for x in before] == [("A", 30), ("B", 70)]
    r.kill()  # SIGKILL: nothing written at exit
    assert "end-state 2" in state.read_text()
    r2 = router(state=state)
    assert listing(r2, admin) == before
    wait_serving(r2, admin)
    assert sets_of(served(r2, pb2, 10)) == {"A", "B"}


def test_bad_state_file_is_refused(stubs, admin, tmp_path):
    for text, why in [("garbage\n", "not a shimkit_router state file"),
                      ("shimkit-router-state 1\nset A\nweight 5\nbackend 127.0.0.1:1\n", "cut short"),
                      ("shimkit-router-state 1\nset A\nweight lots\nend\nend-state 1\n", "weight"),
                      ("shimkit-router-state 1\nset A\nend\nend-state 1\n", "no backends")]:
        path = tmp_path / "bad.state"
        path.write_text(text)
        out = subprocess.run(router_command() + ["--listen", "127.0.0.1:0", "--state", str(path)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 2, out.stderr
        assert "bad --state file" in out.stderr and why in out.stderr, out.stderr


def test_bad_admin_requests(router, replicas, admin):
    r = router()
    pb = admin[0]
    a0 = replicas["a0"].target
    bad_sets = [
        (pb.Set(backends=[a0]), "needs a name"),
        (pb.Set(name="x y", backends=[a0]), "may only have"),
        (pb.Set(name="n"), "no backends"),
        (pb.Set(name="n", backends=["nohostport"]), "not host:port"),
        (pb.Set(name="n", backends=["127.0.0.1:99999"]), "not host:port"),
        (pb.Set(name="n", backends=[a0, a0]), "listed twice"),
        (pb.Set(name="n", backends=[a0], policy=pb.HASH), "needs hash_field"),
        (pb.Set(name="n", backends=[a0], policy=pb.HASH, hash_field="f", hash_key="k"), "not both"),
        (pb.Set(name="n", backends=[a0], hash_key="k"), "policy HASH only"),
        (pb.Set(name="n", backends=[a0], policy=pb.HASH, hash_key="grpc-x"), "hash_key"),
        (pb.Set(name="n", backends=[a0], services=["bad/service"]), "not a full service name"),
    ]
    for s, why in bad_sets:
        with pytest.raises(grpc.RpcError) as err:
            r.admin.ApplySet(pb.ApplySetRequest(set=s), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (s, err.value)
        assert why in err.value.details(), (why, err.value.details())
    with pytest.raises(grpc.RpcError) as err:
        r.admin.ApplySet(pb.ApplySetRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    apply(r, admin, "A", replicas, ["a0"], 100)
    cases = [
        (lambda: r.admin.RemoveSet(pb.RemoveSetRequest(name=""), timeout=10), "INVALID_ARGUMENT", "needs"),
        (lambda: r.admin.RemoveSet(pb.RemoveSetRequest(name="nope"), timeout=10), "NOT_FOUND", "nope"),
        (lambda: r.admin.SetWeights(pb.SetWeightsRequest(service=ECHO), timeout=10), "INVALID_ARGUMENT",
         "at least one"),
        (lambda: r.admin.SetWeights(pb.SetWeightsRequest(service=ECHO, weights={"nope": 1}), timeout=10),
         "NOT_FOUND", "nope"),
        (lambda: r.admin.SetWeights(pb.SetWeightsRequest(service="pkg.Other", weights={"A": 1}), timeout=10),
         "INVALID_ARGUMENT", "does not serve"),
        (lambda: r.admin.HoldService(pb.HoldServiceRequest(service="", hold=True), timeout=10),
         "INVALID_ARGUMENT", "needs a service"),
    ]
    for call, code, why in cases:
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code().name == code and why in err.value.details(), err.value
    # Nothing changed by the refused requests.
    assert [(s.set.name, s.set.weight) for s in r.admin.ListSets(pb.ListSetsRequest(), timeout=10).sets] == [
        ("A", 100)]


def sample(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_per_backend_metrics(router, replicas, admin, pb2):
    r = router("--metrics-listen", "127.0.0.1:0")
    apply(r, admin, "A", replicas, ["a0", "a1"], 100)
    wait_serving(r, admin)
    served(r, pb2, 6)
    with pytest.raises(grpc.RpcError):
        r.echo.Say(pb2.EchoRequest(message="x", fail_code=5), timeout=10)
    with urllib.request.urlopen(f"http://{r.proc.metrics_address()}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    a0, a1 = replicas["a0"].target, replicas["a1"].target
    calls = [sample(text, "shimkit_router_backend_calls_total", set="A", backend=b) for b in (a0, a1)]
    assert sorted(calls) == [3, 4], text
    assert sum(sample(text, "shimkit_router_backend_failures_total", set="A", backend=b) for b in (a0, a1)) == 1
    assert sample(text, "shimkit_router_backend_outstanding", set="A", backend=a0) == 0
    assert sample(text, "shimkit_router_backend_serving", set="A", backend=a1) == 1
    assert sample(text, "shimkit_router_set_weight", set="A") == 100


def test_sigkill_during_handler_fails_unavailable_no_replay(router, admin, pb2):
    """A replica SIGKILLed while its handler runs: the client gets UNAVAILABLE (a
    replay on the other replica would answer OK after the delay), and the other
    replica never sees the call."""
    reps = {n: Shim("--name", n, "--metrics-listen", "127.0.0.1:0").start() for n in ("k0", "k1")}
    try:
        r = router()
        apply(r, admin, "K", reps, ["k0", "k1"], 100)
        wait_serving(r, admin)
        slow = r.echo.Say.future(pb2.EchoRequest(message="slow", delay_ms=120000), timeout=300)
        victim = None
        deadline = time.monotonic() + 10
        while victim is None and time.monotonic() < deadline:
            for b in r.admin.ListSets(admin[0].ListSetsRequest(), timeout=10).sets[0].backends:
                if b.outstanding == 1:
                    victim = b.address
            time.sleep(0.02)
        assert victim is not None
        name = [n for n, s in reps.items() if s.target == victim][0]
        other = [n for n in reps if n != name][0]
        reps[name].wait_in_flight(SAY)  # in its handler (which takes 2 minutes): killed there
        reps[name].kill()
        with pytest.raises(grpc.RpcError) as err:
            slow.result()
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value
        st = r.admin.ListSets(admin[0].ListSetsRequest(), timeout=10).sets[0]
        assert [b.calls for b in st.backends if b.address == reps[other].target] == [0]
        assert "Say" not in reps[other].log()
        # Calls that had not reached it still succeed on the other replica.
        assert served(r, pb2, 5) == {other: 5}
    finally:
        for s in reps.values():
            s.kill()


def test_admin_changes_under_load(router, replicas, admin, pb2):
    """Sets replaced, weighted, added and removed 40 times while four clients
    call without pause: no call fails (each keeps the snapshot it started
    with; a replaced set goes live once its new replicas answered health)."""
    import threading

    r = router()
    apply(r, admin, "A", replicas, ["a0", "a1"], 100)
    wait_serving(r, admin)
    stop = threading.Event()
    results = {"ok": 0, "failed": []}
    lock = threading.Lock()

    def client(k):
        with grpc.insecure_channel(r.proc.target) as ch:
            stub = r.stubs[1].EchoStub(ch)
            while not stop.is_set():
                try:
                    stub.Say(pb2.EchoRequest(message=f"c{k}"), timeout=30)
                    with lock:
                        results["ok"] += 1
                except grpc.RpcError as e:
                    with lock:
                        results["failed"].append(f"{e.code()}: {e.details()}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    pb = admin[0]
    try:
        layouts = [["a0", "a1"], ["a1", "b0"], ["b0", "b1"], ["a0"], ["a0", "a1", "b0", "b1"]]
        for i in range(40):
            apply(r, admin, "A", replicas, layouts[i % len(layouts)], 100)
            apply(r, admin, "B", replicas, layouts[(i + 2) % len(layouts)], i % 3 * 50)
            r.admin.SetWeights(pb.SetWeightsRequest(service=ECHO, weights={"A": (i % 2) * 50 + 10}), timeout=10)
            r.admin.ListSets(pb.ListSetsRequest(), timeout=10)
            r.admin.RemoveSet(pb.RemoveSetRequest(name="B"), timeout=10)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert results["failed"] == [], results["failed"][:5]
    assert results["ok"] > 0


def test_hash_field_set_forwards_every_kind(router, replicas, admin, pb2):
    """A set hashing on a request field: the router reads the first request
    message before it picks (field extraction plugs in there, field_key.c);
    every kind of call goes through it unchanged."""
    r = router()
    apply(r, admin, "H", replicas, ["a0", "a1"], 100, policy=admin[0].HASH, hash_field="message")
    wait_serving(r, admin)
    st = r.admin.ListSets(admin[0].ListSetsRequest(), timeout=10).sets[0]
    assert st.set.hash_field == "message" and st.set.hash_key == ""
    assert r.echo.Say(pb2.EchoRequest(message="k"), timeout=10).message == "k"
    assert [x.message for x in r.echo.Expand(pb2.ExpandRequest(message="e", count=3), timeout=10)] == ["e"] * 3
    reply = r.echo.Collect(iter([pb2.EchoRequest(message=w) for w in ["a", "b", "c"]]), timeout=10)
    assert reply.joined == "a b c"
    assert [x.message for x in r.echo.Chat(iter([pb2.EchoRequest(message=w) for w in ["x", "y"]]),
                                           timeout=10)] == ["x", "y"]
    # A client stream with no message at all still ends cleanly.
    assert r.echo.Collect(iter([]), timeout=10).count == 0
