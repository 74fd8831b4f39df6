"""shimctl swap of a stateless service under load: training liblinear ->
libsvm (ListJobs/GetJob calls through the router at a fixed rate during
the whole swap), by canary weights 10, 50, 100: zero failed calls; the
router ends with the libsvm set only, the liblinear replicas are stopped.
Then back to liblinear at once, still with zero failed calls, SetWeights'
answer lost: shimctl reads back what the router applied and goes on."""
import re

from shimctl_stack import Stack, free_port, pid_alive


def test_training_swap_under_load(tmp_path):
    rp = free_port()
    stack = Stack(tmp_path, f"""stack: stateless
router:
  listen: 127.0.0.1:{rp}
services:
  model_repository:
    implementation: fs
    drain_grace_ms: 1000
    config:
      data-dir: {tmp_path}/mr
  training:
    implementation: liblinear
    replicas: 2
    drain_grace_ms: 2000
""")
    try:
        stack.up()
        old_pids = stack.pids("training-liblinear")
        load = stack.start_load("training", rate=100, duration=50)
        r = stack.run("swap", "training", "--to", "libsvm", "--canary", "10,50,100", "--step-ms", "700")
        print(r.stdout)
        for w in (10, 50, 100):
            assert f"weights: training-libsvm {w}, training-liblinear {100 - w}" in r.stdout
        m = re.search(r"swapped training to libsvm in ([0-9.]+) s", r.stdout)
        assert m, r.stdout
        # More calls after the swap, on the new set only.
        calls_before = stack.calls("training-libsvm")
        stack.wait_for("calls on the libsvm set", lambda: stack.calls("training-libsvm")
            > calls_before + 50)
        result = stack.stop_load(load)
        print("swap liblinear -> libsvm:", result, "swap duration", m.group(1), "s")
        assert result["failed"] == 0, result
        assert result["calls"] > 100
        sets = {s.set.name: s for s in stack.list_sets().sets}
        assert "training-liblinear" not in sets and sets["training-libsvm"].set.weight == 100
        assert not any(pid_alive(p) for p in old_pids)
        st = stack.state()["sets"]
        assert "training-liblinear" not in st and st["training-libsvm"]["weight"] == 100

        # And back, at once, SetWeights' answer lost (the router applied it):
        # shimctl reads the weights back and goes on from what was applied.
        load = stack.start_load("training", rate=100, duration=40)
        r = stack.run("swap", "training", "--to", "liblinear", env={"SHIMCTL_TEST_LOSE_ANSWER": "SetWeights"})
        assert "SetWeights: DEADLINE_EXCEEDED" in r.stderr and "the router applied it" in r.stderr, r.stderr
        stack.wait_for("calls on the liblinear set", lambda: stack.calls("training-liblinear")
            > 50)
        result = stack.stop_load(load)
        print("swap libsvm -> liblinear:", result)
        assert result["failed"] == 0, result
        assert "training-liblinear" in stack.run("status").stdout
        sets = {s.set.name: s.set.weight for s in stack.list_sets().sets if s.set.name.startswith("training")}
        assert sets == {"training-liblinear": 100}, sets
        st = stack.state()["sets"]
        assert "training-libsvm" not in st and st["training-liblinear"]["weight"] == 100

        bad = stack.run("swap", "training", "--to", "liblinear", check=False)
        assert bad.returncode == 1 and "already runs liblinear" in bad.stderr
        bad = stack.run("swap", "training", "--to", "tensorflow", check=False)
        assert bad.returncode == 2 and "valid: liblinear, libsvm, xgboost" in bad.stderr
    finally:
        stack.close()


def test_interrupted_swap_goes_on(tmp_path):
    """shimctl SIGKILLed in the middle of a canary swap: both sets stay up and
    serving, a swap elsewhere is refused, and the same swap run again picks
    up the started set and finishes, with no failed call under load."""
    import signal
    import subprocess

    from shimctl_stack import shimctl_program

    rp = free_port()
    stack = Stack(tmp_path, f"""stack: resume
router:
  listen: 127.0.0.1:{rp}
services:
  training:
    implementation: liblinear
    replicas: 2
    drain_grace_ms: 1000
""")
    try:
        stack.up()
        load = stack.start_load("training", rate=100, duration=50)
        p = subprocess.Popen([shimctl_program(), "-f", stack.path, "swap", "training", "--to", "libsvm",
                              "--canary", "10,50,100", "--step-ms", "20000"], stdout=subprocess.PIPE, text=True)
        seen = ""
        while "weights: training-libsvm 10" not in seen:
            line = p.stdout.readline()
            assert line, f"swap ended early:\n{seen}"
            seen += line
        busy = stack.run("scale", "training", "3", check=False)
        assert busy.returncode == 1 and "another shimctl command is changing this stack (pid" in busy.stderr
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        weights = {s.set.name: s.set.weight for s in stack.list_sets().sets}
        assert weights == {"training-liblinear": 90, "training-libsvm": 10}, weights
        bad = stack.run("swap", "training", "--to", "xgboost", check=False)
        assert bad.returncode == 1 and "an earlier swap to libsvm did not finish" in bad.stderr, bad.stderr
        r = stack.run("swap", "training", "--to", "libsvm")
        assert "training-libsvm is there already" in r.stdout, r.stdout
        result = stack.stop_load(load)
        print("interrupted swap:", result)
        assert result["failed"] == 0, result
        assert {s.set.name: s.set.weight for s in stack.list_sets().sets} == {"training-libsvm": 100}
        assert list(stack.state()["sets"]) == ["training-libsvm"]
    finally:
        stack.close()
