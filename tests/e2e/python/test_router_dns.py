"""shimkit_router's dns:HOST:PORT backends and --sets-file, end to end: real
echo_shim replicas on 127.0.0.2:P, 127.0.0.3:P and 127.0.0.4:P (one port,
several loopback addresses, as the pods behind a Kubernetes headless
service), a real router resolving one name to them.

The router runs in its own mount namespace with a test hosts file bind-mounted
over /etc/hosts (unshare -m; the test skips, saying why, only when unshare or
mount are not permitted), so getaddrinfo answers from that file and no name
server is asked. The file is rewritten in place (same inode, so the bind
mount sees it) to add and remove replicas while calls run: calls are balanced
over the addresses the name has; an address added gets calls within a bounded
wait; an address removed gets no new call while the calls already on it
finish OK; a failed resolution keeps the last good replicas (one warning per
streak); a name that never resolved gives UNAVAILABLE naming it. --sets-file: the router serves the file's sets, never writes it,
and refuses --state or --backend with it. The router must exit 0 on SIGTERM
(with no sanitizer report) after every test."""
import concurrent.futures
import os
import re
import shlex
import subprocess
import time

import grpc
import pytest

from shimproc import Shim
from test_router_admin import admin, router_command, served  # noqa: F401  (admin: the stubs fixture)

ECHO = "shimkit.examples.v1.Echo"
NAME = "replicas.shimkit.test"
WAIT = 20.0  # generous bound of every wait for a condition


def write_hosts(path, *ips):
    """Rewrites the hosts file in place (same inode: the router's bind mount sees it)."""
    text = "127.0.0.1 localhost\n" + "".join(f"{ip} {NAME}\n" for ip in ips)
    with open(path, "r+" if os.path.exists(path) else "w") as f:
        f.seek(0)
        f.write(text)
        f.truncate()


@pytest.fixture(scope="module")
def namespace_ok(tmp_path_factory):
    """Skips the module's namespace tests unless unshare -m + mount --bind work here."""
    d = tmp_path_factory.mktemp("ns_probe")
    hosts = d / "hosts"
    write_hosts(hosts, "127.0.0.2")
    try:
        p = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {shlex.quote(str(hosts))} /etc/hosts && "
                            f"getent ahostsv4 {NAME}"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot run unshare -m: {e}")
    if p.returncode != 0 or "127.0.0.2" not in p.stdout:
        pytest.skip(f"unshare -m / mount --bind not permitted here (exit {p.returncode}): {p.stderr.strip()}")


class NsRouter:
    """A router in its own mount namespace, with hosts bind-mounted over /etc/hosts."""

    def __init__(self, stubs, admin, hosts, *args, nsswitch=None):
        script = f'mount --bind {shlex.quote(str(hosts))} /etc/hosts && '
        if nsswitch is not None:  # e.g. "hosts: files" only: a name missing from hosts fails, no name server asked
            script += f'mount --bind {shlex.quote(str(nsswitch))} /etc/nsswitch.conf && '
        script += 'exec "$0" "$@"'
        self.proc = Shim("--health-retry-ms", "100", "--resolve-interval-ms", "200", *args,
                         command=["unshare", "-m", "sh", "-c", script] + router_command()).start()
        self.channel = grpc.insecure_channel(self.proc.target)
        self.echo = stubs[1].EchoStub(self.channel)
        self.admin = admin[1].RouterAdminStub(self.channel)
        self.pb = admin[0]

    def list(self):
        return self.admin.ListSets(self.pb.ListSetsRequest(), timeout=10).sets

    def stop(self):
        self.channel.close()
        rc = self.proc.stop(30)
        log = self.proc.log()
        assert rc == 0, f"router exited {rc} on SIGTERM:\n{log}"
        assert "Sanitizer" not in log and "runtime error" not in log, log


def wait_replicas(r, want, timeout=WAIT):
    """Until the only set's replicas are exactly want (addresses), all SERVING; returns ListSets."""
    deadline = time.monotonic() + timeout
    while True:
        sets = r.list()
        got = {b.address: b.serving for s in sets for b in s.backends}
        if set(got) == set(want) and all(got.values()):
            return sets
        if time.monotonic() > deadline:
            raise AssertionError(f"replicas {sorted(got.items())}, want {sorted(want)} SERVING:\n{r.proc.log()}")
        time.sleep(0.05)


def warm_up(proc, echo, pb2):
    """One call, then until the router knows Say is unary, so that the calls
    counted afterwards are all forwarded the same way."""
    echo.Say(pb2.EchoRequest(message="warm-up"), timeout=10)
    proc.wait_log("/shimkit.examples.v1.Echo/Say is unary")


@pytest.fixture
def echoes():
    """Echo replicas named r2, r3, r4 on 127.0.0.2:P, 127.0.0.3:P, 127.0.0.4:P (one port P)."""
    first = Shim("--name", "r2", "--listen", "127.0.0.2:0").start()
    reps = {"r2": first}
    try:
        for n in ("r3", "r4"):
            reps[n] = Shim("--name", n, "--listen", f"127.0.0.{n[1]}:{first.port}").start()
    except Exception:
        for s in reps.values():
            s.kill()
        raise
    yield first.port, reps
    for s in reps.values():
        s.kill()


@pytest.fixture
def ns_router(stubs, admin, namespace_ok, tmp_path):  # noqa: F811
    started = []

    def make(*args, nsswitch=None):
        r = NsRouter(stubs, admin, tmp_path / "hosts", *args, nsswitch=nsswitch)
        started.append(r)
        return r

    yield make
    for r in started:
        if r.proc.alive():
            r.stop()


def test_dns_replicas_follow_the_name(ns_router, echoes, pb2, tmp_path):
    port, _ = echoes
    hosts = tmp_path / "hosts"
    write_hosts(hosts, "127.0.0.2", "127.0.0.3")
    ino = os.stat(hosts).st_ino
    r = ns_router("--backend", f"dns:{NAME}:{port}")
    a2, a3, a4 = (f"127.0.0.{i}:{port}" for i in (2, 3, 4))

    # The name's two addresses are two replicas, listed with the dns: entry they come from.
    sets = wait_replicas(r, {a2, a3})
    assert list(sets[0].set.backends) == [f"dns:{NAME}:{port}"]
    assert {b.source for b in sets[0].backends} == {f"dns:{NAME}:{port}"}
    assert not sets[0].unresolved
    warm_up(r.proc, r.echo, pb2)
    assert served(r, pb2, 20) == {"r2": 10, "r3": 10}

    # A third address appears: it gets calls within a bounded wait, then its share.
    write_hosts(hosts, "127.0.0.2", "127.0.0.3", "127.0.0.4")
    assert os.stat(hosts).st_ino == ino
    wait_replicas(r, {a2, a3, a4})
    deadline = time.monotonic() + WAIT
    while "r4" not in served(r, pb2, 3):
        assert time.monotonic() < deadline, "127.0.0.4 never got a call"
    assert served(r, pb2, 30) == {"r2": 10, "r3": 10, "r4": 10}
    r.proc.wait_log(f"added: {a4}")

    # One address disappears while a slow call runs on each replica: the calls
    # on the removed replica finish OK, and it gets no new call.
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        slow = [pool.submit(r.echo.Say, pb2.EchoRequest(message=f"slow{i}", delay_ms=2500), timeout=30)
                for i in range(3)]
        deadline = time.monotonic() + WAIT
        while sorted(b.outstanding for s in r.list() for b in s.backends) != [1, 1, 1]:
            assert time.monotonic() < deadline, f"the slow calls are not one per replica: {r.list()}"
            time.sleep(0.02)
        write_hosts(hosts, "127.0.0.2", "127.0.0.4")
        wait_replicas(r, {a2, a4})
        assert served(r, pb2, 20) == {"r2": 10, "r4": 10}
        replies = [f.result() for f in slow]
    assert sorted(x.served_by for x in replies) == ["r2", "r3", "r4"]
    assert all(x.message.startswith("slow") for x in replies)
    log = r.proc.wait_log(f"removed: {a3}")
    freed = r.proc.wait_log(f"backend {a3} (set default):")  # its last call ended: the replica is freed
    assert re.search(rf"backend {re.escape(a3)} \(set default\): \d+ calls, 0 failed", freed), freed
    assert "WARN" not in log, log


def test_dns_set_through_admin_and_policies(ns_router, echoes, admin, pb2, tmp_path):  # noqa: F811
    """A dns: set applied at run time, with the hash policy: a key stays on one replica."""
    port, _ = echoes
    hosts = tmp_path / "hosts"
    write_hosts(hosts, "127.0.0.2", "127.0.0.3", "127.0.0.4")
    r = ns_router("--backend", "127.0.0.9:1")  # a default set nobody serves Echo from
    pb = admin[0]
    st = r.admin.ApplySet(pb.ApplySetRequest(set=pb.Set(
        name="echo", services=[ECHO], backends=[f"dns:{NAME}:{port}"], policy=pb.HASH, hash_key="x-user",
        weight=100)), timeout=30)
    # ApplySet resolved the name before answering: its replicas are in the reply.
    assert sorted(b.address for b in st.backends) == [f"127.0.0.{i}:{port}" for i in (2, 3, 4)]
    deadline = time.monotonic() + WAIT
    while not all(b.serving for s in r.list() if s.set.name == "echo" for b in s.backends):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    seen = set()
    for k in range(30):
        who = {r.echo.Say(pb2.EchoRequest(message="x"), metadata=[("x-user", f"u{k}")], timeout=10).served_by
               for _ in range(3)}
        assert len(who) == 1, who  # one key, one replica
        seen |= who
    assert seen == {"r2", "r3", "r4"}

    # Bad dns: backends are refused with the reason.
    for bad in ("dns:bad_name:80", "dns:host:0", "dns:host", "dns:-x.y:80"):
        with pytest.raises(grpc.RpcError) as e:
            r.admin.ApplySet(pb.ApplySetRequest(set=pb.Set(name="bad", backends=[bad], weight=1)), timeout=10)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "dns:HOST:PORT" in e.value.details()


def test_dns_failures(ns_router, echoes, admin, pb2, tmp_path):  # noqa: F811
    """A failed resolution keeps the last good replicas (one warning per failure
    streak, with the reason); a name that never resolved leaves its set with no
    replica and its calls fail UNAVAILABLE naming it. The namespace's
    nsswitch.conf says "hosts: files", so a name missing from the hosts file
    fails at once and no name server is asked."""
    port, _ = echoes
    hosts = tmp_path / "hosts"
    nsswitch = tmp_path / "nsswitch.conf"
    nsswitch.write_text("hosts: files\n")
    write_hosts(hosts, "127.0.0.2", "127.0.0.3")
    r = ns_router("--backend", f"dns:{NAME}:{port}", nsswitch=nsswitch)
    a2, a3 = f"127.0.0.2:{port}", f"127.0.0.3:{port}"
    wait_replicas(r, {a2, a3})
    warm_up(r.proc, r.echo, pb2)

    # The name disappears: warned once (with the reason), the replicas stay.
    write_hosts(hosts)
    log = r.proc.wait_log(f"cannot resolve dns:{NAME}:{port}")
    assert "keeping its last addresses" in log, log
    time.sleep(1.0)  # five more failed resolutions at 200 ms: still one warning
    assert r.proc.log().count(f"cannot resolve dns:{NAME}:{port}") == 1, r.proc.log()
    wait_replicas(r, {a2, a3})
    assert served(r, pb2, 10) == {"r2": 5, "r3": 5}
    write_hosts(hosts, "127.0.0.2", "127.0.0.3")
    r.proc.wait_log(f"dns:{NAME}:{port} resolves again")

    # A set whose only name never resolves: no replica; calls fail UNAVAILABLE naming it.
    pb = admin[0]
    ghost = f"dns:ghost.shimkit.test:{port}"
    st = r.admin.ApplySet(pb.ApplySetRequest(set=pb.Set(name="ghost", services=[ECHO], backends=[ghost],
                                                        weight=100)), timeout=30)
    assert list(st.backends) == [] and len(st.unresolved) == 1 and st.unresolved[0].startswith(
        f"{ghost} has not resolved"), st
    with pytest.raises(grpc.RpcError) as e:
        r.echo.Say(pb2.EchoRequest(message="x"), timeout=10)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE and ghost in e.value.details(), e.value.details()
    # It appears: the set gets its replica and serves.
    with open(hosts, "a") as f:
        f.write("127.0.0.4 ghost.shimkit.test\n")
    deadline = time.monotonic() + WAIT
    while True:
        try:
            if r.echo.Say(pb2.EchoRequest(message="x"), timeout=10).served_by == "r4":
                break
        except grpc.RpcError:
            pass
        assert time.monotonic() < deadline, r.proc.log()
        time.sleep(0.05)


SETS = """shimkit-router-state 1
set echo
weight 100
policy round_robin
service shimkit.examples.v1.Echo
backend {a}
backend {b}
end
end-state 1
"""


def test_sets_file(stubs, admin, echoes, pb2, tmp_path):  # noqa: F811
    port, _ = echoes
    path = tmp_path / "sets"
    path.write_text(SETS.format(a=f"127.0.0.2:{port}", b=f"127.0.0.3:{port}"))
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    proc = Shim("--sets-file", str(path), "--health-retry-ms", "100", command=router_command()).start()
    try:
        channel = grpc.insecure_channel(proc.target)
        echo = stubs[1].EchoStub(channel)
        adm = admin[1].RouterAdminStub(channel)
        pb = admin[0]
        deadline = time.monotonic() + WAIT
        while True:
            sets = adm.ListSets(pb.ListSetsRequest(), timeout=10).sets
            if [s.set.name for s in sets] == ["echo"] and all(b.serving for b in sets[0].backends):
                break
            assert time.monotonic() < deadline, f"{sets}\n{proc.log()}"
            time.sleep(0.05)
        warm_up(proc, echo, pb2)
        counts = {}
        for i in range(10):
            who = echo.Say(pb2.EchoRequest(message=f"m{i}"), timeout=10).served_by
            counts[who] = counts.get(who, 0) + 1
        assert counts == {"r2": 5, "r3": 5}
        assert "changes made through RouterAdmin are not persisted" in proc.log()
        # Admin changes still work at run time, and the file stays as it was.
        adm.SetWeights(pb.SetWeightsRequest(service=ECHO, weights={"echo": 50}), timeout=10)
        adm.ApplySet(pb.ApplySetRequest(set=pb.Set(name="other", services=["pkg.Other"],
                                                   backends=[f"127.0.0.4:{port}"], weight=1)), timeout=10)
        assert sorted(s.set.name for s in adm.ListSets(pb.ListSetsRequest(), timeout=10).sets) == ["echo", "other"]
        channel.close()
    finally:
        rc = proc.stop(30)
    log = proc.log()
    assert rc == 0 and "Sanitizer" not in log and "runtime error" not in log, log
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
    assert not os.path.exists(str(path) + ".tmp")


@pytest.mark.parametrize("extra, reason", [
    (["--state", "STATE"], "--sets-file and --state exclude each other"),
    (["--backend", "127.0.0.1:1"], "--sets-file and --backend exclude each other"),
])
def test_sets_file_refuses(tmp_path, extra, reason):
    path = tmp_path / "sets"
    path.write_text(SETS.format(a="127.0.0.2:1", b="127.0.0.3:1"))
    extra = [str(tmp_path / "state") if a == "STATE" else a for a in extra]
    p = subprocess.run(router_command() + ["--listen", "127.0.0.1:0", "--sets-file", str(path)] + extra,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and reason in p.stderr, p.stderr
    assert not os.path.exists(tmp_path / "state")


def test_sets_file_bad(tmp_path):
    missing = subprocess.run(router_command() + ["--listen", "127.0.0.1:0", "--sets-file", str(tmp_path / "no")],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2 and "no such file" in missing.stderr, missing.stderr
    bad = tmp_path / "bad"
    bad.write_text(SETS.format(a="dns:bad_name:80", b="127.0.0.3:1"))
    p = subprocess.run(router_command() + ["--listen", "127.0.0.1:0", "--sets-file", str(bad)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "bad --sets-file file" in p.stderr and "dns:bad_name:80" in p.stderr, p.stderr
