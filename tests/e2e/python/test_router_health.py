"""shimkit_router's grpc.health.v1 per routed service, end to end: real
echo_shim replicas behind a real router, asked with grpcio's health client
(grpc_health.v1), as a Kubernetes probe `grpc_health_probe
-service=shimkit.examples.v1.Echo` on the router's address would.

- Check("shimkit.examples.v1.Echo") is SERVING while a replica of the set
  listing it is healthy; NOT_SERVING once every replica is gone (SIGTERM,
  then SIGKILL); SERVING again when a replica comes back on its address. A
  Watch opened before sees SERVING, NOT_SERVING, SERVING.
- The set removed (RouterAdmin/RemoveSet): NOT_SERVING as soon as RemoveSet
  answered; applied again with another replica: SERVING.
- Throughout: Check("") (the router itself) and the router's own services
  stay SERVING; Check("no.such.Service") is NOT_FOUND.

Changes are waited for with bounded polling (the router sees a replica's
health through its own Watch), never with fixed sleeps. The router must
exit 0 on SIGTERM (and print no sanitizer report) after every test."""
import queue
import signal
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import shimctl_stack
from shimproc import Shim, router_command

ECHO = "shimkit.examples.v1.Echo"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
OWN = ("grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "shimkit.router.v1.RouterAdmin")
WAIT_S = 30.0  # bound on any wait for a change (a busy machine, ASan); never a measured time


@pytest.fixture(scope="module")
def admin():
    """(admin_pb2, admin_pb2_grpc), generated from proto/shimkit/router/v1/admin.proto."""
    return shimctl_stack.admin_stubs()


def state_file(path, name, backends):
    """A --state file with one set listing the Echo service."""
    lines = ["shimkit-router-state 1", f"set {name}", "weight 100", "policy round_robin", f"service {ECHO}"]
    lines += [f"backend {b}" for b in backends] + ["end", "end-state 1"]
    path.write_text("\n".join(lines) + "\n")
    return path


class Cluster:
    """Echo replicas (name -> Shim), a router whose state file lists them as set "echo", and stubs on it."""

    def __init__(self, tmp_path, names):
        self.reps = {n: Shim("--name", n).start() for n in names}
        state = state_file(tmp_path / "router.state", "echo", [s.target for s in self.reps.values()])
        self.router = Shim("--state", str(state), "--health-retry-ms", "100", command=router_command()).start()
        self.channel = grpc.insecure_channel(self.router.target)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def check(self, service):
        """The status Check answers for service, or the gRPC status code when it fails."""
        try:
            return self.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
        except grpc.RpcError as e:
            return e.code()

    def wait_status(self, service, want):
        """Polls Check(service) until it answers want (at most WAIT_S)."""
        deadline = time.monotonic() + WAIT_S
        got = None
        while time.monotonic() < deadline:
            got = self.check(service)
            if got == want:
                return
            time.sleep(0.05)
        raise AssertionError(f"Check({service!r}) is {got}, not {want}, after {WAIT_S} s:\n{self.router.log()}")

    def assert_router_itself_serving(self):
        assert self.check("") == SERVING
        for name in OWN:
            assert self.check(name) == SERVING, name
        assert self.check("no.such.Service") == grpc.StatusCode.NOT_FOUND

    def close(self):
        self.channel.close()
        rc = self.router.stop(30)
        for s in self.reps.values():
            s.kill()
        log = self.router.log()
        assert rc == 0, f"router exited {rc} on SIGTERM:\n{log}"
        assert "Sanitizer" not in log and "runtime error" not in log, log


@pytest.fixture
def cluster(tmp_path):
    made = []

    def make(*names):
        c = Cluster(tmp_path, names)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


class Watcher:
    """A Watch(service) stream read on a thread; its statuses arrive on a queue."""

    def __init__(self, channel, service):
        self.updates = queue.Queue()
        self.call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=service))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for reply in self.call:
                self.updates.put(reply.status)
        except grpc.RpcError as e:
            self.updates.put(e.code())

    def wait_for(self, want):
        """Takes statuses until want arrives (at most WAIT_S); returns those seen before it."""
        seen = []
        deadline = time.monotonic() + WAIT_S
        while True:
            left = deadline - time.monotonic()
            try:
                st = self.updates.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(f"Watch did not send {want} within {WAIT_S} s (saw {seen})") from None
            if st == want:
                return seen
            seen.append(st)

    def close(self):
        self.call.cancel()
        self.thread.join(10)


def test_service_health_follows_replicas(cluster):
    c = cluster("e0", "e1")
    c.wait_status(ECHO, SERVING)
    c.assert_router_itself_serving()
    watch = Watcher(c.channel, ECHO)
    try:
        assert watch.wait_for(SERVING) == []  # its first answer: the current status

        # One replica drains and exits: the other still serves the set, so Echo stays SERVING.
        e0_port = c.reps["e0"].port
        assert c.reps["e0"].stop(30) == 0
        c.router.wait_log(f"backend {c.reps['e0'].target} (set echo) is not serving", timeout=WAIT_S)
        assert c.check(ECHO) == SERVING
        c.assert_router_itself_serving()

        # The last one is killed: no healthy replica serves Echo any more.
        c.reps["e1"].kill()
        c.wait_status(ECHO, NOT_SERVING)
        assert watch.wait_for(NOT_SERVING) == []  # no status in between
        c.assert_router_itself_serving()

        # A replica back on e0's address: the router's re-watch finds it, Echo is SERVING again.
        c.reps["e0"] = Shim("--name", "e0-again", "--listen", f"127.0.0.1:{e0_port}").start()
        c.wait_status(ECHO, SERVING)
        assert watch.wait_for(SERVING) == []
        c.assert_router_itself_serving()
    finally:
        watch.close()


def test_service_health_follows_set_changes(cluster, admin):
    pb, pb_grpc = admin
    c = cluster("e0")
    spare = Shim("--name", "e1").start()
    c.reps["e1"] = spare  # killed with the cluster
    stub = pb_grpc.RouterAdminStub(c.channel)
    c.wait_status(ECHO, SERVING)
    watch = Watcher(c.channel, ECHO)
    try:
        assert watch.wait_for(SERVING) == []

        # Removed: no set lists Echo any more. The change is published before RemoveSet answers.
        stub.RemoveSet(pb.RemoveSetRequest(name="echo"), timeout=10)
        assert c.check(ECHO) == NOT_SERVING
        assert watch.wait_for(NOT_SERVING) == []
        c.assert_router_itself_serving()

        # Applied again, with the other replica.
        s = pb.Set(name="echo", services=[ECHO], backends=[spare.target], weight=100)
        stub.ApplySet(pb.ApplySetRequest(set=s), timeout=10)
        c.wait_status(ECHO, SERVING)
        assert watch.wait_for(SERVING) == []
        c.assert_router_itself_serving()
    finally:
        watch.close()
