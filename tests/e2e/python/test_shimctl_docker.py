"""e2e.shimctl.docker: the shimctl flow in the docker environment, on the real Docker Engine.

shimctl build (training's three images, feature_store's two), up (two training-liblinear
containers published on 127.0.0.1, restart policy on, behind the router; a feature_store-sqlite
one whose SQLite file, a host path in the stack file, lands on the host), scale to 3, swap to libsvm by canary under the
load generator's ListJobs/GetJob calls through the router (0 failed calls), status and logs from
the containers, down (no container of the stack left). Logs survive their containers: a replica
container killed (docker kill) and replaced by the supervisor, the retired liblinear set and the
containers down removed all leave their output, framed by start/end lines with the exit code, in
<state>/logs/<set>-<i>.log, which `shimctl logs` shows before the live container's output.
Skips, saying why, only when dockerd does not answer (scripts/services/docker.sh starts it)."""
import json
import os
import re
import subprocess

import pytest

from shimctl_stack import Stack, docker_ok, free_port

TAG = "e2e"


pytestmark = pytest.mark.skipif(not docker_ok(), reason="docker: not available (dockerd does not answer "
                                "'docker info'; scripts/services/docker.sh start)")


def containers(stack_name):
    """{name: inspect dict} of the stack's containers (running or not)."""
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.shimkit.stack={stack_name}"],
                         capture_output=True, text=True, timeout=30, check=True).stdout.split()
    if not ids:
        return {}
    # One may be removed between ps and inspect (the supervisor replacing a dead replica):
    # inspect then exits 1 but still describes the others.
    info = json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True,
                                     timeout=30).stdout or "[]")
    return {c["Name"].lstrip("/"): c for c in info}


def log_file(stack, set_name, index):
    with open(os.path.join(stack.state_dir, "logs", f"{set_name}-{index}.log"), errors="replace") as f:
        return f.read()


def running(stack_name):
    return sorted(n for n, c in containers(stack_name).items() if c["State"]["Running"])


class DockerStack(Stack):
    """Stack whose replica ids are container names; close() also removes what down left."""

    def close(self):
        for p in self.loads:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        if os.path.exists(os.path.join(self.state_dir, "state")):
            self.down()
        left = list(containers(self.name))
        if left:
            subprocess.run(["docker", "rm", "-f", *left], capture_output=True, timeout=60)
        vols = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"label=io.shimkit.stack={self.name}"],
                              capture_output=True, text=True, timeout=30).stdout.split()
        if vols:
            subprocess.run(["docker", "volume", "rm", "-f", *vols], capture_output=True, timeout=60)


def test_docker_up_scale_swap_down(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIMCTL_IMAGE_TAG", TAG)  # build and the supervisor use the same tag
    name = f"dk{os.getpid()}"
    rp = free_port()
    stack = DockerStack(tmp_path, f"""stack: {name}
environment: docker
router:
  listen: 127.0.0.1:{rp}
services:
  training:
    implementation: liblinear
    replicas: 2
    drain_grace_ms: 2000
  feature_store:
    implementation: sqlite
    drain_grace_ms: 1000
    config:
      db: {tmp_path}/fsdata/features.db
""")
    try:
        r = stack.run("build", "training", "feature_store", timeout=300)
        for impl in ("liblinear", "libsvm", "xgboost"):
            assert f"shimkit/training-{impl}:{TAG}" in r.stdout, r.stdout
        assert "layer 1  shared runtime" in r.stdout and "layer 3  shim program" in r.stdout

        stack.up()
        fs = f"shimkit-{name}-feature_store-sqlite-0"
        want = [fs] + [f"shimkit-{name}-training-liblinear-{i}" for i in range(2)]
        assert running(name) == want
        # A host path in the stack file is the host's: its folder is mounted at the same path.
        assert os.path.exists(tmp_path / "fsdata" / "features.db"), "the SQLite file is not on the host"
        mounts = {m["Destination"]: m for m in containers(name)[fs]["Mounts"]}
        assert mounts[str(tmp_path / "fsdata")]["Source"] == str(tmp_path / "fsdata"), mounts
        assert mounts["/data"]["Type"] == "volume", mounts
        for cname, c in containers(name).items():
            if "training" not in cname:
                continue
            assert c["Config"]["Image"] == f"shimkit/training-liblinear:{TAG}"
            assert c["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
            (binding,) = c["HostConfig"]["PortBindings"].values()
            assert binding[0]["HostIp"] == "127.0.0.1", binding
            # The router address shimctl gives training (--model-repository) is loopback on the
            # host: inside the container it names the host instead.
            assert f"host.docker.internal:{rp}" in c["Args"] and f"127.0.0.1:{rp}" not in c["Args"], c["Args"]
            assert "host.docker.internal:host-gateway" in c["HostConfig"]["ExtraHosts"]

        # A replica's container killed: docker's restart policy leaves it dead (docker kill is a
        # manual stop), the supervisor replaces it with a new container of the same name, and
        # what the dead one printed, with how it ended, is still there.
        victim = f"shimkit-{name}-training-liblinear-1"
        dead = containers(name)[victim]["Id"][:12]
        subprocess.run(["docker", "kill", victim], check=True, capture_output=True, timeout=30)
        stack.wait_for("the supervisor to replace the killed container", lambda: (
            lambda c: c is not None and c["Id"][:12] != dead and c["State"]["Running"])(containers(name).get(victim)))
        r = stack.run("logs", "training", "--replica", "1")
        kept, _, live = r.stdout.partition(f"==> container {victim}: live output")
        assert live, r.stdout[-3000:]
        assert "logs/training-liblinear-1.log: kept output of this replica's containers that ended" in kept, kept
        started = kept.index(f"=== shimctl: container {victim} ({dead}) started ")
        ended = kept.index(f"=== shimctl: container {victim} ({dead}) ended ")
        assert "training_shim listening on 0.0.0.0:" in kept[started:ended], kept[-3000:]
        assert "exit code 137 (killed by signal 9)" in kept[ended:], kept[-3000:]
        assert "last exit: exit code 137 (killed by signal 9)" in stack.run("status").stdout

        stack.run("scale", "training", "3")
        assert running(name) == [fs] + [f"shimkit-{name}-training-liblinear-{i}" for i in range(3)]

        load = stack.start_load("training", rate=100, duration=50)
        r = stack.run("swap", "training", "--to", "libsvm", "--canary", "50,100", "--step-ms", "700")
        print(r.stdout)
        m = re.search(r"swapped training to libsvm in ([0-9.]+) s", r.stdout)
        assert m, r.stdout
        stack.wait_for("calls on the libsvm set", lambda: stack.calls("training-libsvm") > 50)
        result = stack.stop_load(load)
        print("docker swap liblinear -> libsvm:", result, "swap duration", m.group(1), "s")
        assert result["failed"] == 0, result
        assert result["calls"] > 100
        stack.wait_for("the liblinear containers to be gone",
                       lambda: running(name) == [fs] + [f"shimkit-{name}-training-libsvm-{i}" for i in range(3)])
        assert not any("liblinear" in n for n in containers(name)), "stopped containers were not removed"

        status = stack.run("status").stdout
        assert f"shimkit-{name}-training-libsvm-0" in status and "SERVING" in status, status
        logs = stack.run("logs", "training").stdout
        assert "training_shim listening on 0.0.0.0:" in logs, logs[-2000:]
        # The retired set's output (it drained and exited 0) is kept; logs finds it by the set's name.
        stack.wait_for("the liblinear set to leave the state", lambda: "training-liblinear" not in stack.state()["sets"])
        logs = stack.run("logs", "training-liblinear", "--replica", "2").stdout
        assert "kept log of training-liblinear replica 2 (no longer in the stack)" in logs, logs[-2000:]
        assert re.search(r"=== shimctl: container \S+-training-liblinear-2 \(\w+\) ended \S+: exit code 0", logs), logs

        r = stack.run("down", "--keep-logs")
        assert containers(name) == {}, "down left containers"
        # The containers down removed left their output in the log files, as did the killed one.
        for i in range(3):
            text = log_file(stack, "training-libsvm", i)
            assert re.search(rf"=== shimctl: container shimkit-{name}-training-libsvm-{i} \(\w+\) ended \S+: "
                             r"exit code 0", text), text[-2000:]
        fs_log = log_file(stack, "feature_store-sqlite", 0)
        assert "feature_store_shim listening on 0.0.0.0:" in fs_log and f"container {fs} (" in fs_log, fs_log[-2000:]
        assert f"container {victim} ({dead}) ended " in log_file(stack, "training-liblinear", 1)
        # Nothing went wrong keeping them (the supervisor's own lines start with a time).
        with open(os.path.join(stack.state_dir, "supervisor.log")) as f:
            trouble = [line for line in f if line.startswith("shimctl: ")]
        assert not trouble, trouble
    finally:
        stack.close()
