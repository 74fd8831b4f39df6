"""Faults under load (issue 5 §6), with shimctl's supervisor:
- a replica SIGKILLed: the set is back to full size (the supervisor starts
  it again, status shows the restart); calls that had not reached it went
  elsewhere; the only failures allowed are the calls in flight on it
  (UNAVAILABLE, no hang);
- the router SIGKILLed: the supervisor starts it again, it comes back with
  the same sets and weights (ListSets before == after, from its --state
  file), and calls go on (a load started after the restart has no failure)."""
import os
import signal

from shimctl_stack import Stack, free_port, pid_alive


def stack_text(rp):
    return f"""stack: faults
router:
  listen: 127.0.0.1:{rp}
services:
  echo:
    replicas: 3
    drain_grace_ms: 500
  training:
    implementation: liblinear
    replicas: 2
    policy: least_outstanding
"""


def test_replica_killed_under_load(tmp_path):
    stack = Stack(tmp_path, stack_text(free_port()))
    try:
        stack.up()
        load = stack.start_load("echo", rate=100, duration=50)
        victim = stack.pids("echo-builtin")[1]
        os.kill(victim, signal.SIGKILL)
        stack.wait_for("replica 1 restarted and SERVING again", lambda: (
            stack.state()["sets"]["echo-builtin"]["replicas"][1]["restarts"] == 1 and
            all(b.serving for s in stack.list_sets().sets if s.set.name == "echo-builtin" for b in s.backends)))
        new_pid = stack.pids("echo-builtin")[1]
        assert new_pid != victim and pid_alive(new_pid)
        before = sum(b.calls for s in stack.list_sets().sets for b in s.backends if b.address.endswith(
            str(stack.state()["sets"]["echo-builtin"]["replicas"][1]["port"])))
        stack.wait_for("calls on the restarted replica", lambda: sum(
            b.calls for s in stack.list_sets().sets for b in s.backends if b.address.endswith(
                str(stack.state()["sets"]["echo-builtin"]["replicas"][1]["port"]))) > before + 20)
        result = stack.stop_load(load)
        print("replica SIGKILL:", result)
        assert result["calls"] > 100
        assert all(e.startswith("UNAVAILABLE") for e in result["errors"]), result
        st = stack.run("status").stdout
        assert "echo-builtin  service echo  implementation builtin  weight 100  policy round_robin  replicas 3/3" in st
        assert "restarts 1  SERVING" in st and "last exit: killed by signal 9" in st, st
    finally:
        stack.close()


def listing(stack):
    return sorted((s.set.name, s.set.weight, s.set.policy, tuple(s.set.services), tuple(s.set.backends))
                  for s in stack.list_sets().sets)


def test_router_killed_under_load(tmp_path):
    stack = Stack(tmp_path, stack_text(free_port()))
    try:
        stack.up()
        before = listing(stack)
        assert [b[0] for b in before] == ["echo-builtin", "training-liblinear"]
        load = stack.start_load("echo", rate=100, duration=50)
        router = stack.router_pid()
        os.kill(router, signal.SIGKILL)
        stack.wait_for("the router started again", lambda: stack.state()["router"]["restarts"] == 1 and
                       stack.state()["router"]["id"] != "")
        assert listing(stack) == before, "the router must come back with the same sets and weights"
        assert not pid_alive(router)
        stack.wait_for("every replica SERVING in the new router", lambda: all(
            b.serving for s in stack.list_sets().sets for b in s.backends))
        result = stack.stop_load(load)
        print("router SIGKILL:", result)
        assert all(e.startswith("UNAVAILABLE") for e in result["errors"]), result
        result = stack.finish_load(stack.start_load("echo", rate=100, duration=30, count=200))
        print("after the router restart:", result)
        assert result["failed"] == 0 and result["calls"] > 0, result
        assert "restarts 1" in stack.run("status").stdout
    finally:
        stack.close()
