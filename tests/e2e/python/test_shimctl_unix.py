"""shimctl with `replica_sockets: unix` (process environment): every replica
listens on its own unix socket in the state folder and the router is given
unix: backends, while clients still call the router on its TCP address.

Checked with real shimctl, router and shims: the state, `status` and the
router's ListSets name the same unix: addresses, each a socket file a
replica answers on (and its command line says --listen unix:...); calls
through the router succeed; a replica SIGKILLed (its socket file left
behind) is started again on the same path by the supervisor while calls
keep succeeding; scale up and down; a stateful swap (feature_store sqlite ->
redis, under load) copies the rows between replicas on sockets and keeps
every acknowledged one; down leaves no socket file. Stack files that cannot
have unix sockets are refused by line before anything starts."""
import os
import shutil
import signal
import stat
import tempfile

import grpc
import pytest

from shimctl_stack import DOCKER, Stack, free_port, missing_feature_rows, pid_alive, port_free

pytestmark = pytest.mark.skipif(DOCKER, reason="replica_sockets: unix is for the process environment only")


def say(target, text="hi"):
    data = text.encode()
    req = bytes([0x0A, len(data)]) + data
    with grpc.insecure_channel(target) as ch:
        return ch.unary_unary("/shimkit.examples.v1.Echo/Say")(req, timeout=10, wait_for_ready=True)


@pytest.fixture
def short_dir():
    """A state_dir short enough for the sockets' 107 bytes (pytest's tmp_path can be long)."""
    d = tempfile.mkdtemp(prefix="shux-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def unix_stack(folder, state_dir, services, name="unixdemo"):
    rp = free_port()
    text = (f"stack: {name}\nreplica_sockets: unix\nstate_dir: {state_dir}\nrouter:\n  listen: 127.0.0.1:{rp}\n"
            f"services:\n{services}")
    stack = Stack(folder, text)
    stack.state_dir = os.path.join(state_dir, name)
    return stack, rp


def is_socket(path):
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def socket_files(root):
    return sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files
                  if is_socket(os.path.join(d, f)))


def replicas(stack, set_name):
    return sorted(stack.state()["sets"][set_name]["replicas"], key=lambda r: r["index"])


def check_unix_replicas(stack, set_name, n):
    """The set's n replicas each on <state>/sockets/<set>-<i>.sock: in the state (no port), as a socket file
    that answers, on the replica's command line; the same addresses in the router, each SERVING."""
    reps = replicas(stack, set_name)
    assert [r["index"] for r in reps] == list(range(n)), reps
    want = [f"unix:{stack.state_dir}/sockets/{set_name}-{r['index']}.sock" for r in reps]
    assert [r["addr"] for r in reps] == want
    assert all(r["port"] == 0 for r in reps), reps
    for r, addr in zip(reps, want):
        assert is_socket(addr[len("unix:"):]), addr
        pid = int(r["id"].split("@")[0])
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode().split("\0")
        assert argv[argv.index("--listen") + 1] == addr, argv
    stack.wait_for(f"the router's {n} unix: backends of {set_name}, SERVING", lambda: sorted(
        (b.address, b.serving) for s in stack.list_sets().sets if s.set.name == set_name for b in s.backends)
        == [(a, True) for a in sorted(want)])
    return want


def test_echo_on_unix_sockets(tmp_path, short_dir):
    stack, rp = unix_stack(tmp_path, short_dir, "  echo:\n    replicas: 2\n    drain_grace_ms: 500\n"
                                                "    config:\n      name: replica\n")
    try:
        r = stack.up()
        assert "echo-builtin: 2/2 SERVING" in r.stdout
        assert stack.router == f"127.0.0.1:{rp}"  # clients are unchanged: the router listens on TCP
        addrs = check_unix_replicas(stack, "echo-builtin", 2)
        for i in range(6):
            assert b"replica" in say(stack.router, f"m{i}")
        for addr in addrs:  # each replica answers on its socket
            assert b"replica" in say(addr)
        st = stack.run("status").stdout
        for i, addr in enumerate(addrs):
            assert f"replica {i}  {addr}  id " in st, st
        assert st.count("running  restarts 0  SERVING") == 2, st
        assert "calls 3" in st, st  # round robin over the two unix: backends
        logs = stack.run("logs", "echo").stdout
        assert f"listening on {addrs[0]}" in logs

        # A replica SIGKILLed leaves its socket file; the supervisor starts it again on the same path.
        old = replicas(stack, "echo-builtin")[0]
        os.kill(int(old["id"].split("@")[0]), signal.SIGKILL)
        stack.wait_for("replica 0 started again", lambda: replicas(stack, "echo-builtin")[0]["id"] not in
                       ("", old["id"]))
        for i in range(20):  # calls keep succeeding while the router notices
            assert b"replica" in say(stack.router, f"k{i}")
        again = replicas(stack, "echo-builtin")[0]
        assert again["restarts"] == 1 and again["addr"] == addrs[0], again
        check_unix_replicas(stack, "echo-builtin", 2)
        assert "last exit: killed by signal 9" in stack.run("status").stdout
        assert f"echo-builtin/0 started on {addrs[0]}" in stack.run("logs", "supervisor").stdout

        r = stack.run("scale", "echo", "3")
        assert "echo-builtin: 3/3 SERVING" in r.stdout
        addrs3 = check_unix_replicas(stack, "echo-builtin", 3)
        assert addrs3[:2] == addrs
        assert f"replica 2  {addrs3[2]}" in stack.run("status").stdout
        gone = stack.pids("echo-builtin")[1:]
        r = stack.run("scale", "echo", "1")
        assert "stopping replicas 1..2" in r.stdout
        assert not any(pid_alive(p) for p in gone)
        check_unix_replicas(stack, "echo-builtin", 1)
        assert [b.address for b in stack.list_sets().sets[0].backends] == [addrs[0]]
        assert socket_files(stack.state_dir) == [addrs[0][len("unix:"):]]
        for i in range(4):
            assert b"replica" in say(stack.router, f"s{i}")

        # The file's replica_sockets cannot change on a running stack.
        with open(stack.path) as f:
            text = f.read()
        with open(stack.path, "w") as f:
            f.write(text.replace("replica_sockets: unix", "replica_sockets: tcp"))
        r = stack.run("up", check=False)
        assert r.returncode == 1 and "the file says replica_sockets: tcp" in r.stderr, r.stderr
        with open(stack.path, "w") as f:
            f.write(text)

        pids = stack.all_pids()
        r = stack.run("down", "--keep-logs")
        assert "is down" in r.stdout
        assert not any(pid_alive(p) for p in pids)
        assert socket_files(short_dir) == [], "down left socket files"
        assert not os.path.exists(os.path.join(stack.state_dir, "sockets"))
        assert os.path.isdir(os.path.join(stack.state_dir, "logs"))
        assert port_free(rp)
        assert not stack.sanitizer_reports(), stack.sanitizer_reports()
    finally:
        stack.close()


def test_stateful_swap_on_unix_sockets(tmp_path, short_dir, redis):
    stack, _ = unix_stack(tmp_path, short_dir, f"""  feature_store:
    implementation: sqlite
    replicas: 2
    drain_grace_ms: 1000
    implementations:
      sqlite:
        db: {tmp_path}/features.db
      redis:
        redis: "{redis.addr}"
""", name="unixswap")
    try:
        stack.up()
        old = check_unix_replicas(stack, "feature_store-sqlite", 2)
        acked = str(tmp_path / "acked.txt")
        load = stack.start_load("feature_store", rate=50, duration=50, acked=acked)
        stack.wait_for("rows written before the swap", lambda: stack.calls() > 50)
        r = stack.run("swap", "feature_store", "--to", "redis")
        print(r.stdout, r.stderr)
        assert "state copied:" in r.stdout
        # The copy went from a replica's socket to another's.
        assert f"-> unix:{stack.state_dir}/sockets/feature_store-redis-" in r.stdout, r.stdout
        assert f"records, unix:{stack.state_dir}/sockets/feature_store-sqlite-" in r.stdout, r.stdout
        new = check_unix_replicas(stack, "feature_store-redis", 2)
        stack.wait_for("rows written after the swap", lambda: stack.calls("feature_store-redis")
            > 50)
        result = stack.stop_load(load)
        print("swap on unix sockets:", result)
        assert result["failed"] == 0, result
        keys = open(acked).read().split()
        assert len(keys) == result["acked"] and len(keys) > 50
        assert [s.set.name for s in stack.list_sets().sets] == ["feature_store-redis"]
        assert missing_feature_rows(stack.router, keys) == []
        assert missing_feature_rows(new[1], keys) == []  # straight from a Redis replica, on its socket
        assert not any(is_socket(a[len("unix:"):]) for a in old), "the old set's sockets are still there"
        r = stack.run("swap", "feature_store", "--to", "sqlite", "--port", "40000", check=False)
        assert r.returncode == 2 and "--port has no meaning with replica_sockets: unix" in r.stderr, r.stderr
        r = stack.run("down")
        assert socket_files(short_dir) == [] and not os.path.exists(stack.state_dir)
    finally:
        stack.close()


REFUSED = [
    ("docker", "environment: docker\nreplica_sockets: unix\nstate_dir: {short}\n", "",
     "stack.yaml:3: replica_sockets: unix is for the process environment only (environment docker, line 2"),
    ("port", "replica_sockets: unix\nstate_dir: {short}\n", "    port: {port}\n",
     "stack.yaml:9: services.echo: port has no meaning with replica_sockets: unix (line 2"),
    ("deep state_dir", "replica_sockets: unix\nstate_dir: {short}/" + "d" * 90 + "\n", "",
     "stack.yaml:3: replica_sockets: unix needs a shorter state_dir: echo's replica sockets in {short}/ddd"),
    ("bad value", "replica_sockets: uds\n", "", "stack.yaml:2: unknown replica_sockets 'uds' (valid: tcp, unix)"),
]


@pytest.mark.parametrize("name,top,svc,want", REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_before_anything_starts(tmp_path, short_dir, name, top, svc, want):
    rp, port = free_port(), free_port()
    subs = {"short": short_dir, "port": port}
    text = (f"stack: refused\n{top.format(**subs)}router:\n  listen: 127.0.0.1:{rp}\nservices:\n  echo:\n"
            f"    replicas: 1\n{svc.format(**subs)}")
    stack = Stack(tmp_path, text)
    r = stack.run("up", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert want.format(**subs) in r.stderr, r.stderr
    assert "refused (1 problem); nothing was started" in r.stderr, r.stderr
    assert os.listdir(short_dir) == [] and not os.path.exists(tmp_path / ".shimctl")
    assert port_free(rp)
