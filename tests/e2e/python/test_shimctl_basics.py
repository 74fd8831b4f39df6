"""shimctl with echo replicas: bad stack files refused before anything
starts (line and reason); up, status, calls through the router, scale up
and down, logs (also --follow), a second up refused, down leaving nothing
behind; shimctl's supervisor SIGKILLed and started again by up, adopting
the running replicas."""
import os
import signal
import subprocess
import time

import grpc
import pytest

from shimctl_stack import Stack, free_port, pid_alive, port_free, shimctl_program


def say(target, text="hi"):
    data = text.encode()
    req = bytes([0x0A, len(data)]) + data
    with grpc.insecure_channel(target) as ch:
        return ch.unary_unary("/shimkit.examples.v1.Echo/Say")(req, timeout=10, wait_for_ready=True)


BAD = [
    ("unknown implementation",
     "stack: b\nrouter:\n  listen: 127.0.0.1:{rp}\nservices:\n  feature_store:\n    implementation: mysql\n",
     "bad.yaml:6: unknown implementation 'mysql' of feature_store (valid: sqlite, redis)"),
    ("missing field",
     "stack: b\nrouter:\n  listen: 127.0.0.1:{rp}\nservices:\n  training:\n    replicas: 2\n",
     "bad.yaml:5: training: missing field 'implementation'"),
    ("replicas < 1",
     "stack: b\nrouter:\n  listen: 127.0.0.1:{rp}\nservices:\n  echo:\n    replicas: 0\n",
     "bad.yaml:6: replicas must be at least 1"),
    ("port clash",
     "stack: b\nrouter:\n  listen: 127.0.0.1:{rp}\nservices:\n  echo:\n    replicas: 2\n    port: {p1}\n"
     "  training:\n    implementation: libsvm\n    port: {p2}\n",
     "bad.yaml:10: port clash: training ports {p2}..{p2} overlap echo ports {p1}..{p2}"),
    ("router port clash",
     "stack: b\nrouter:\n  listen: 127.0.0.1:{rp}\nservices:\n  echo:\n    port: {rp}\n",
     "bad.yaml:6: port clash: echo ports {rp}..{rp} include the router's listen port {rp}"),
    ("unknown key",
     "stack: b\nrouter:\n  listen: 127.0.0.1:{rp}\nservices:\n  echo:\n    replicaz: 2\n",
     "bad.yaml:6: unknown key 'replicaz' in services.echo"),
]


@pytest.mark.parametrize("name,text,want", BAD, ids=[b[0] for b in BAD])
def test_bad_stack_file_refused(tmp_path, name, text, want):
    rp = free_port()
    p1 = free_port()
    subs = {"rp": rp, "p1": p1, "p2": p1 + 1}
    stack = Stack(tmp_path, text.format(**subs), name="bad.yaml")
    for cmd in ("up", "status", "swap"):
        r = stack.run(cmd, *(["echo", "--to", "builtin"] if cmd == "swap" else []), check=False)
        assert r.returncode == 2, f"{cmd}: {r.stdout}{r.stderr}"
        assert want.format(**subs) in r.stderr, r.stderr
        assert f"bad.yaml refused (1 problem)" in r.stderr, r.stderr
        # Only commands that start something say so.
        assert ("nothing was started" in r.stderr) == (cmd != "status"), r.stderr
    assert not os.path.exists(tmp_path / ".shimctl"), "a refused stack file must not create any state"
    assert port_free(rp), "nothing may listen on the router's port"


def test_help_and_usage(tmp_path):
    prog = shimctl_program()
    r = subprocess.run([prog, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    for cmd in ("build", "up", "status", "scale", "swap", "down", "logs"):
        assert f"  {cmd} " in r.stdout
        h = subprocess.run([prog, cmd, "--help"], capture_output=True, text=True, timeout=10)
        assert h.returncode == 0 and h.stdout.startswith(f"usage: shimctl {cmd}"), h.stdout
    r = subprocess.run([prog, "frobnicate"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
    for cmd in ("status", "down", "up"):
        r = subprocess.run([prog, "-f", str(tmp_path / "none.yaml"), cmd], capture_output=True, text=True,
                           timeout=10)
        assert r.returncode == 2, r.stderr
        assert r.stderr == f"shimctl: cannot open {tmp_path / 'none.yaml'}: No such file or directory\n", r.stderr
    r = subprocess.run([prog, "supervise", "--dir", str(tmp_path / "nonexistent")], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2, r.stderr
    assert f"{tmp_path / 'nonexistent'}: No such file or directory" in r.stderr, r.stderr
    assert "another supervisor" not in r.stderr


def test_up_status_scale_logs_down(tmp_path):
    rp, base = free_port(), free_port()
    stack = Stack(tmp_path, f"stack: basics\nrouter:\n  listen: 127.0.0.1:{rp}\nservices:\n"
                            f"  echo:\n    replicas: 2\n    port: {base}\n    drain_grace_ms: 500\n"
                            f"    config:\n      name: replica\n")
    try:
        r = stack.up()
        assert "echo-builtin: 2/2 SERVING" in r.stdout
        assert stack.router == f"127.0.0.1:{rp}"
        for i in range(6):
            assert b"replica" in say(stack.router, f"m{i}")
        st = stack.run("status").stdout
        assert "set echo-builtin  service echo  implementation builtin  weight 100  policy round_robin  replicas 2/2" in st
        for i in (0, 1):
            assert f"replica {i}  127.0.0.1:{base + i}" in st
        assert st.count("running  restarts 0  SERVING") == 2, st
        assert "calls 3" in st, st  # round robin: 3 and 3

        again = stack.run("up")
        assert "already up" in again.stdout and "nothing to change" in again.stdout, again.stdout

        r = stack.run("scale", "echo", "3")
        assert "echo-builtin: 3/3 SERVING" in r.stdout
        st = stack.run("status").stdout
        assert "replicas 3/3" in st and f"127.0.0.1:{base + 2}" in st
        assert len(stack.list_sets().sets[0].backends) == 3
        gone = stack.pids("echo-builtin")[1:]
        r = stack.run("scale", "echo", "1")
        assert "stopping replicas 1..2" in r.stdout
        assert "replicas 1/1" in stack.run("status").stdout
        assert not any(pid_alive(p) for p in gone)
        assert [b.address for b in stack.list_sets().sets[0].backends] == [f"127.0.0.1:{base}"]
        assert b"replica" in say(stack.router)

        bad = stack.run("scale", "echo", "0", check=False)
        assert bad.returncode == 2 and "N must be a number 1.." in bad.stderr
        bad = stack.run("scale", "training", "2", check=False)
        assert bad.returncode == 1 and "has no service training" in bad.stderr

        for bad in ("abc", "-1", "1x", "99"):
            r = stack.run("logs", "echo", "--replica", bad, check=False)
            assert r.returncode == 2, f"{bad}: {r.stdout}{r.stderr}"
            assert f"--replica wants a replica number from 0 to 31, got '{bad}'" in r.stderr
            assert r.stdout == ""
        r = stack.run("logs", "echo", "--replica", "5", check=False)  # a number, but no such replica
        assert r.returncode == 2 and "has no service or set echo-builtin with a replica 5" in r.stderr, r.stderr
        logs = stack.run("logs", "echo").stdout
        assert f"listening on 127.0.0.1:{base}" in logs
        assert "listening on" in stack.run("logs", "router").stdout
        assert "echo-builtin/0 started" in stack.run("logs", "supervisor").stdout
        follow = subprocess.Popen([shimctl_program(), "-f", stack.path, "logs", "echo", "--follow"],
                                  stdout=subprocess.PIPE, text=True)
        say(stack.router, "followed-call")
        deadline = time.monotonic() + 20
        seen = ""
        while "Say" not in seen and time.monotonic() < deadline:
            seen += follow.stdout.readline()
        follow.send_signal(signal.SIGINT)
        follow.wait(10)
        assert "Say" in seen

        pids = stack.all_pids()
        r = stack.run("down")
        assert "is down" in r.stdout
        assert not os.path.exists(stack.state_dir)
        assert not any(pid_alive(p) for p in pids)
        assert port_free(rp) and port_free(base)
        r = stack.run("status", check=False)
        assert r.returncode == 1 and "is not up" in r.stderr
        r = stack.run("down")  # twice: nothing to stop is what down wants
        assert "stack basics is not up: nothing to stop" in r.stdout
    finally:
        stack.close()


def test_up_again_applies_the_files_changes(tmp_path):
    """Edit the stack file of a running stack and run up: a new replica count
    is scaled to, a new implementation is swapped to (no failed call), and
    what up cannot change (a new service) is refused with the reason."""
    rp = free_port()
    text = f"""stack: apply
router:
  listen: 127.0.0.1:{rp}
services:
  model_repository:
    implementation: fs
    drain_grace_ms: 500
    config:
      data-dir: {tmp_path}/mr
  training:
    implementation: liblinear
    replicas: 1
    drain_grace_ms: 500
"""
    stack = Stack(tmp_path, text)
    try:
        stack.up()
        with open(stack.path, "w") as f:
            f.write(text.replace("implementation: liblinear\n    replicas: 1",
                                 "implementation: libsvm\n    replicas: 2"))
        load = stack.start_load("training", rate=50, duration=20)
        r = stack.up()
        assert "training: implementation liblinear -> libsvm (shimctl swap)" in r.stdout, r.stdout
        assert "training: replicas 1 -> 2 (shimctl scale)" in r.stdout, r.stdout
        assert "with the file's changes applied" in r.stdout, r.stdout
        names = sorted(s.set.name for s in stack.list_sets().sets)
        assert names == ["model_repository-fs", "training-libsvm"], names
        training = [s for s in stack.list_sets().sets if s.set.name == "training-libsvm"][0]
        assert len(training.backends) == 2
        # A job lives on the replica that ran it: the router asks the other replicas on NOT_FOUND.
        assert training.set.retry_not_found
        assert not [s for s in stack.list_sets().sets if s.set.name == "model_repository-fs"][0].set.retry_not_found
        report = stack.stop_load(load)
        assert report["failed"] == 0 and report["calls"] > 0, report

        r = stack.up()
        assert "nothing to change" in r.stdout, r.stdout

        with open(stack.path, "a") as f:
            f.write("  echo:\n    replicas: 1\n")
        bad = stack.run("up", check=False)
        assert bad.returncode == 1 and "service echo is not in the running stack" in bad.stderr, bad.stderr
    finally:
        stack.close()


def test_supervisor_killed_and_started_again(tmp_path):
    rp = free_port()
    stack = Stack(tmp_path, f"stack: sup\nrouter:\n  listen: 127.0.0.1:{rp}\nservices:\n"
                            f"  echo:\n    replicas: 2\n    drain_grace_ms: 500\n")
    try:
        stack.up()
        pids = stack.pids("echo-builtin")
        router = stack.router_pid()
        os.kill(stack.supervisor_pid(), signal.SIGKILL)
        stack.wait_for("the supervisor to be gone", lambda: "NOT RUNNING" in stack.run("status").stdout)
        assert say(stack.router)  # replicas and router go on without it
        r = stack.up()
        assert "no supervisor: starting one" in r.stdout
        assert stack.pids("echo-builtin") == pids, "running replicas are adopted, not started twice"
        assert stack.router_pid() == router
        # The new supervisor restarts what dies.
        os.kill(pids[1], signal.SIGKILL)
        stack.wait_for("replica 1 restarted",
                       lambda: stack.state()["sets"]["echo-builtin"]["replicas"][1]["restarts"] == 1 and
                       pid_alive(stack.pids("echo-builtin")[1]))
    finally:
        stack.close()


def test_port_in_use_refused(tmp_path):
    """A port taken by another program: up says which, and starts nothing."""
    import socket

    rp = free_port()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        stack = Stack(tmp_path, f"stack: busy\nrouter:\n  listen: 127.0.0.1:{rp}\nservices:\n"
                                f"  echo:\n    port: {port}\n")
        r = stack.run("up", check=False)
        assert r.returncode == 1
        assert f"port {port} of echo-builtin replica 0 is in use" in r.stderr
        assert "nothing was started" in r.stderr
        assert not os.path.exists(stack.state_dir), "a refused up leaves no state folder behind"
        assert port_free(rp)
        r = stack.run("down")
        assert r.returncode == 0 and "stack busy is not up: nothing to stop" in r.stdout, r.stdout
        # A folder an older shimctl left (lock files, empty logs/) is removed by down.
        os.makedirs(os.path.join(stack.state_dir, "logs"))
        open(os.path.join(stack.state_dir, "command.lock"), "w").close()
        r = stack.run("down")
        assert "is not up: nothing to stop" in r.stdout and not os.path.exists(stack.state_dir), r.stdout
    finally:
        taken.close()


def test_up_stops_waiting_for_a_replica_that_cannot_start(tmp_path):
    """A misspelled flag: the replica exits at once each time the supervisor starts it. up gives up
    after its third exit, names it and shows the end of its log (the shim's reason), exits 1 --
    without waiting out --timeout (set far above the test's own timeout here)."""
    rp = free_port()
    stack = Stack(tmp_path, f"stack: typo\nrouter:\n  listen: 127.0.0.1:{rp}\nservices:\n"
                            f"  model_repository: {{implementation: fs, config: {{data-dirr: models}}}}\n")
    try:
        r = stack.run("--timeout", "600", "up", check=False, timeout=120)
        assert r.returncode == 1, f"{r.stdout}{r.stderr}"
        assert "model_repository-fs replica 0 " in r.stderr, r.stderr
        assert "exited 3 times without becoming SERVING (last: exit status 2)" in r.stderr, r.stderr
        assert "logs/model_repository-fs-0.log:" in r.stderr, r.stderr
        tail = r.stderr.split("logs/model_repository-fs-0.log:\n", 1)[1].splitlines()
        assert "unrecognized option '--data-dirr'" in "\n".join(tail[:5]), r.stderr
        assert all(line.startswith("    ") for line in tail[:5]), r.stderr
        assert "is not SERVING after" not in r.stderr
    finally:
        stack.close()


@pytest.mark.parametrize("key", ["hash_key: x-user", "hash_field: message"])
def test_hash_policy_reaches_the_router(tmp_path, key):
    """policy and hash_key / hash_field of the stack file become the set's
    policy in the router: calls with one x-user value (or one message text)
    all go to one replica."""
    rp = free_port()
    stack = Stack(tmp_path, f"stack: hashed\nrouter:\n  listen: 127.0.0.1:{rp}\nservices:\n"
                            f"  echo:\n    replicas: 3\n    policy: hash\n    {key}\n"
                            f"    drain_grace_ms: 500\n")
    try:
        stack.up()
        s = stack.list_sets().sets[0]
        name, value = key.split(": ")
        assert s.set.policy == 2 and getattr(s.set, name) == value
        assert list(s.set.services) == ["shimkit.examples.v1.Echo"]
        with grpc.insecure_channel(stack.router) as ch:
            say_m = ch.unary_unary("/shimkit.examples.v1.Echo/Say")
            for i in range(12):
                say_m(b"\x0a\x02hi", metadata=[("x-user", "alice")], timeout=10, wait_for_ready=True)
        calls = sorted(b.calls for b in stack.list_sets().sets[0].backends)
        assert calls == [0, 0, 12], calls
        assert "policy hash" in stack.run("status").stdout
    finally:
        stack.close()


def test_down_keeps_the_state_when_a_stop_fails(tmp_path):
    """down cannot stop a replica (here: the docker CLI fails for every command, so whether the
    container runs cannot be told and docker stop fails): it exits 1 and keeps the state, so that
    a second down finds the replica again; with the CLI answering, that down succeeds."""
    rp = free_port()
    (tmp_path / "stack.yaml").write_text(
        f"stack: dfail\nenvironment: docker\nrouter:\n  listen: 127.0.0.1:{rp}\n"
        "services:\n  echo:\n    implementation: builtin\n")
    sdir = tmp_path / ".shimctl" / "dfail"
    sdir.mkdir(parents=True)
    (sdir / "state").write_text(
        "shimctl-state 1\nstack dfail\nenvironment docker\n"
        f"base_dir {tmp_path}\nstack_file {tmp_path / 'stack.yaml'}\n"
        f"router - 127.0.0.1:{rp} - - 0\n"
        "set echo-builtin echo builtin - 0 - - 100 5000 1 0\n"
        "replica 0 40001 shimkit-dfail-echo-builtin-0 0 0 -\n")
    failing = tmp_path / "docker-failing"
    failing.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    gone = tmp_path / "docker-gone"
    gone.write_text("#!/bin/sh\necho 'Error response from daemon: No such container: x'\n"
                    "echo 'Error response from daemon: No such container: x' >&2\nexit 1\n")
    for f in (failing, gone):
        f.chmod(0o755)

    def down(cli):
        return subprocess.run([shimctl_program(), "-f", str(tmp_path / "stack.yaml"), "down"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "SHIMCTL_DOCKER": str(cli)})

    r = down(failing)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "could not stop shimkit-dfail-echo-builtin-0" in r.stderr
    assert "the state" in r.stderr and "is kept" in r.stderr
    assert (sdir / "state").exists()
    r = down(gone)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not sdir.exists()
