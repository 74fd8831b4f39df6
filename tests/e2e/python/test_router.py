"""shimkit_router end to end: real echo_shim replicas behind a real router,
called with grpcio. Unary forwarding, round robin, metadata both ways, error
status passthrough, deadline; streams; health (a draining replica gets no new
calls); a SIGKILLed replica (calls keep succeeding through the others); the
hash policy (one key, one replica; keys spread; a replica that goes away
moves only its own keys). The router must exit 0 on SIGTERM every time.

Every test on the `cluster` fixture runs three times, once on each path a
call can take through the router:
- relay: the default. Once the router learned from the replicas' reflection
  that Say is unary (the fixture waits for that), unary calls go through
  the HTTP/2 relay straight to a replica (runtime/router/relay.h); streams
  go through the relay to the router's gRPC server;
- core_unary_plan: --no-relay, gRPC core on the router's address; unary
  calls in one batch each way;
- general: --no-unary-plan, message by message, the path streams take."""
import os
import json
import re
import signal
import subprocess
import time

import grpc
import pytest

from shimproc import Shim, router_command

SAY = "/shimkit.examples.v1.Echo/Say"


def run_cluster(pb2, stubs, *router_args):
    """Three replicas (r0, r1, r2; r1 with a long drain grace) and a router in front."""
    reps = []
    for i in range(3):
        extra = ["--drain-grace-ms", "20000"] if i == 1 else []
        # --metrics-listen: tests wait for a call to be in a replica's handler (Shim.wait_in_flight).
        reps.append(Shim("--name", f"r{i}", "--metrics-listen", "127.0.0.1:0", *extra).start())
    args = []
    for s in reps:
        args += ["--backend", s.target]
    router = Shim(*args, "--health-retry-ms", "100", *router_args, command=router_command()).start()
    channel = grpc.insecure_channel(router.target)
    stub = stubs[1].EchoStub(channel)
    try:
        wait_all_serving(stub, pb2, {"r0", "r1", "r2"})
        yield stub, reps, router
    finally:
        channel.close()
        # The router drains and exits 0 on SIGTERM; under ASan/UBSan (build-asan)
        # a leak or an error report makes the exit code non-zero.
        rc = router.stop(30)
        for p in reps:
            p.kill()
    assert rc == 0, f"router exited {rc} on SIGTERM:\n{router.log()}"
    assert "Sanitizer" not in router.log() and "runtime error" not in router.log(), router.log()


@pytest.fixture(params=["relay", "core_unary_plan", "general"])
def cluster(request, pb2, stubs):
    if request.param == "general":
        yield from run_cluster(pb2, stubs, "--no-unary-plan")
        return
    extra = ["--no-relay"] if request.param == "core_unary_plan" else []
    for stub, reps, router in run_cluster(pb2, stubs, *extra):
        wait_unary_plan(stub, pb2, router)
        yield stub, reps, router


def wait_unary_plan(stub, pb2, router, timeout=15.0):
    """Calls Say until the router says it learned that Say is unary."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and "Echo/Say is unary" not in router.log():
        stub.Say(pb2.EchoRequest(message="plan"), timeout=5)
        time.sleep(0.02)
    assert "Echo/Say is unary" in router.log(), router.log()


@pytest.fixture
def hash_cluster(pb2, stubs):
    yield from run_cluster(pb2, stubs, "--policy", "hash", "--hash-key", "x-user")


def wait_all_serving(stub, pb2, names, timeout=15.0):
    seen = set()
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline and not names <= seen:
        n += 1  # a different x-user each time, so that the hash policy reaches every replica too
        try:
            seen.add(stub.Say(pb2.EchoRequest(message="w"), metadata=[("x-user", f"w{n}")], timeout=5).served_by)
        except grpc.RpcError:
            time.sleep(0.05)
    assert names <= seen, f"router reached only {seen}"


def test_unary_round_robin_spreads_calls(cluster, pb2):
    stub, _, router = cluster
    counts = {}
    for i in range(30):
        r = stub.Say(pb2.EchoRequest(message=f"m{i}"), timeout=10)
        assert r.message == f"m{i}"
        counts[r.served_by] = counts.get(r.served_by, 0) + 1
    assert set(counts) == {"r0", "r1", "r2"} and all(n == 10 for n in counts.values()), counts
    router.wait_log("forwarded /shimkit.examples.v1.Echo/Say")


def test_metadata_both_ways_and_binary(cluster, pb2):
    stub, _, _ = cluster
    md = [("x-echo-a", "1"), ("x-echo-data-bin", b"\x00\xff\x01")]
    reply, call = stub.Say.with_call(pb2.EchoRequest(message="md"), metadata=md, timeout=10)
    assert reply.message == "md"
    initial = list(call.initial_metadata())
    trailing = list(call.trailing_metadata())
    assert ("x-echo-a", "1") in initial
    assert ("x-echo-data-bin", b"\x00\xff\x01") in initial
    assert ("x-echo-a-trailer", "1") in trailing
    assert ("x-echo-data-trailer-bin", b"\x00\xff\x01") in trailing


def test_error_status_passes_through(cluster, pb2):
    stub, _, _ = cluster
    with pytest.raises(grpc.RpcError) as err:
        stub.Say(pb2.EchoRequest(message="x", fail_code=5, fail_message="no such thing"), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "no such thing"


def test_deadline_propagates(cluster, pb2):
    """A call whose deadline passes while its replica works ends there too:
    the client gets DEADLINE_EXCEEDED, and the replica's handler (asked for a
    2 minute delay) is ended with it, not left running: its access log has
    the call ending DEADLINE_EXCEEDED (its own copy of the deadline passed)
    or CANCELLED (the client's timer fires first, and its cancel can reach
    the replica before the replica's copy of the deadline passes), and
    nothing is left in flight. A replica that had neither the deadline nor
    the cancel would still run the call, and answer OK 2 minutes later."""
    stub, reps, _ = cluster
    # 5 s: time enough for the call to reach a replica on a busy machine.
    with pytest.raises(grpc.RpcError) as err:
        stub.Say(pb2.EchoRequest(message="slow", delay_ms=120000), timeout=5)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    ended = re.compile(f'"method":"{SAY}","code":"(DEADLINE_EXCEEDED|CANCELLED)"')
    deadline = time.monotonic() + 20  # far before the 2 minutes the handler would take
    while time.monotonic() < deadline and not any(ended.search(r.log()) for r in reps):
        time.sleep(0.05)
    logs = "\n".join(r.log() for r in reps)
    assert ended.search(logs), logs
    assert sum(r.in_flight(SAY) for r in reps) == 0, logs
    # The deadline itself reached the replica: its access log gives the time
    # the call had when it arrived there: about the client's 5 s (grpc-timeout
    # goes on the wire in coarse units, rounded up, at each hop), not none.
    line = json.loads(next(ln for ln in logs.splitlines() if ended.search(ln)))
    assert 0 < line.get("deadline_ms", 0) <= 5500, line


def test_unknown_method_is_forwarded_and_unimplemented(cluster):
    _, _, router = cluster
    with grpc.insecure_channel(router.target) as ch:
        call = ch.unary_unary("/no.Such/Method")
        with pytest.raises(grpc.RpcError) as err:
            call(b"", timeout=10)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_server_streaming(cluster, pb2):
    stub, _, _ = cluster
    call = stub.Expand(pb2.ExpandRequest(message="t", count=5), metadata=[("x-echo-trace", "abc")], timeout=10)
    replies = list(call)
    assert [r.message for r in replies] == ["t"] * 5
    assert ("x-echo-trace", "abc") in list(call.initial_metadata())
    assert ("x-echo-trace-trailer", "abc") in list(call.trailing_metadata())


def test_client_streaming(cluster, pb2):
    stub, _, _ = cluster
    reply = stub.Collect(iter([pb2.EchoRequest(message=w) for w in ["a", "b", "c"]]), timeout=10)
    assert reply.joined == "a b c" and reply.count == 3


def test_bidi_streaming_interleaved(cluster, pb2):
    stub, _, _ = cluster
    import queue
    q = queue.Queue()

    def requests():
        while True:
            m = q.get()
            if m is None:
                return
            yield pb2.EchoRequest(message=m)

    q.put("one")
    call = stub.Chat(requests(), timeout=10)
    first = next(call)
    assert first.message == "one"  # a reply before the client sent its second message
    q.put("two")
    assert next(call).message == "two"
    q.put(None)
    assert list(call) == []


def test_bidi_server_speaks_first():
    """A bidi call whose client sends nothing until the server spoke first:
    the router passes the call on at once, without waiting for a request
    message (a grpcio backend that greets first, with a health Watch)."""
    import queue
    from concurrent import futures

    def talk(request_iterator, context):
        yield b"hello"  # before any request message
        for m in request_iterator:
            yield m

    def watch(request, context):
        yield b"\x08\x01"  # HealthCheckResponse{status: SERVING}
        while context.is_active():
            time.sleep(0.05)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("test.First", {"Talk": grpc.stream_stream_rpc_method_handler(talk)}),
        grpc.method_handlers_generic_handler("grpc.health.v1.Health",
                                             {"Watch": grpc.unary_stream_rpc_method_handler(watch)}),
    ))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    router = Shim("--backend", f"127.0.0.1:{port}", "--health-retry-ms", "100", command=router_command()).start()
    queues = []

    def open_talk(ch):
        q = queue.Queue()
        queues.append(q)

        def requests():
            while True:
                m = q.get()
                if m is None:
                    return
                yield m
        return q, ch.stream_stream("/test.First/Talk")(requests(), timeout=10)

    try:
        with grpc.insecure_channel(router.target) as ch:
            deadline = time.monotonic() + 15
            while True:  # until the router saw the backend SERVING
                q, call = open_talk(ch)
                try:
                    first = next(call)
                    break
                except grpc.RpcError as e:
                    q.put(None)
                    if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            assert first == b"hello"  # nothing sent yet: the call reached the backend at once
            q.put(b"ping")
            assert next(call) == b"ping"
            q.put(None)
            assert list(call) == []
    finally:
        for q in queues:
            q.put(None)
        rc = router.stop(30)
        server.stop(0)
    assert rc == 0, f"router exited {rc} on SIGTERM:\n{router.log()}"
    assert "Sanitizer" not in router.log() and "runtime error" not in router.log(), router.log()


def test_bidi_error_after_replies(cluster, pb2):
    stub, _, _ = cluster
    call = stub.Chat(iter([pb2.EchoRequest(message="ok"),
                           pb2.EchoRequest(message="x", fail_code=9, fail_message="stop")]), timeout=10)
    got = []
    with pytest.raises(grpc.RpcError) as err:
        for r in call:
            got.append(r.message)
    assert got == ["ok"]
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_client_cancel_reaches_backend(cluster, pb2):
    stub, reps, _ = cluster
    call = stub.Expand(pb2.ExpandRequest(message="c", count=1000, interval_ms=50), timeout=30)
    next(call)
    call.cancel()
    # The replica's access log line is written once its handler saw the
    # cancel and the call ended there: wait for it (well before the 50 s
    # the stream would take).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any("Expand" in r.log() and "CANCELLED" in r.log() for r in reps):
        time.sleep(0.05)
    logs = "\n".join(r.log() for r in reps)
    assert "Expand" in logs and "CANCELLED" in logs, logs


def test_unary_client_cancel_reaches_backend(cluster, pb2):
    """A unary call cancelled while its replica works (nothing left to read
    or write on the client's side) is cancelled at the replica too."""
    stub, reps, _ = cluster
    before = sum(r.log().count("CANCELLED") for r in reps)
    fut = stub.Say.future(pb2.EchoRequest(message="slow", delay_ms=300000), timeout=600)
    # Cancel only once a replica runs the call: cancelled before, it never gets there.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(r.in_flight(SAY) for r in reps):
        time.sleep(0.02)
    assert any(r.in_flight(SAY) for r in reps), "the slow call never reached a replica"
    fut.cancel()
    deadline = time.monotonic() + 20  # far before the 5 minutes the replica would take
    while time.monotonic() < deadline and sum(r.log().count("CANCELLED") for r in reps) == before:
        time.sleep(0.05)
    logs = "\n".join(r.log() for r in reps)
    assert sum(r.log().count("CANCELLED") for r in reps) > before, logs


def test_draining_replica_gets_no_new_calls(cluster, pb2, stubs):
    stub, reps, router = cluster
    # A slow call straight to r1 keeps it draining (20 s grace) after SIGTERM: up, but NOT_SERVING.
    with grpc.insecure_channel(reps[1].target) as ch:
        slow = stubs[1].EchoStub(ch).Say.future(pb2.EchoRequest(message="slow", delay_ms=8000), timeout=20)
        reps[1].wait_in_flight(SAY)  # in r1's handler: without it r1 would exit at once
        not_serving = f"{reps[1].target} (set default) is not serving"
        seen = router.log().count(not_serving)
        reps[1].signal(signal.SIGTERM)
        # Until the router saw r1's health go NOT_SERVING (its Watch, polled every 20 ms).
        router.wait_log(not_serving, count=seen + 1)
        assert reps[1].alive()
        served = {stub.Say(pb2.EchoRequest(message="d"), timeout=10).served_by for _ in range(30)}
        assert served == {"r0", "r2"}, served
        slow.cancel()


def test_killed_replica_no_failed_calls(cluster, pb2):
    stub, reps, router = cluster
    reps[2].kill()  # SIGKILL
    # Calls started in the instant between the death and the router's transport
    # noticing it may fail UNAVAILABLE (they are not replayed: they might have
    # reached the handler, docs/router.md "Retry rule"); from the moment the
    # router sees the replica gone, no call may fail.
    router.wait_log(f"{reps[2].target} (set default) is not serving")
    failures = 0
    served = set()
    for i in range(200):
        try:
            served.add(stub.Say(pb2.EchoRequest(message=f"k{i}"), timeout=10).served_by)
        except grpc.RpcError:
            failures += 1
    assert failures == 0
    assert served == {"r0", "r1"}


def test_router_health_and_reflection(cluster):
    _, _, router = cluster
    grpcurl = os.environ.get("SHIMKIT_GRPCURL")
    if not grpcurl or not os.path.exists(grpcurl):
        pytest.fail("SHIMKIT_GRPCURL not set or missing: run scripts/setup.sh")
    out = subprocess.run([grpcurl, "-plaintext", router.target, "list"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert "grpc.health.v1.Health" in out.stdout
    out = subprocess.run([grpcurl, "-plaintext", router.target, "grpc.health.v1.Health/Check"],
                         capture_output=True, text=True, timeout=30)
    assert '"SERVING"' in out.stdout, out.stdout + out.stderr


def served_by_key(stub, pb2, key, n=1):
    return [stub.Say(pb2.EchoRequest(message=key), metadata=[("x-user", key)], timeout=10).served_by
            for _ in range(n)]


def test_hash_same_key_same_replica(hash_cluster, pb2):
    stub, _, router = hash_cluster
    for key in ["alice", "bob", "carol"]:
        served = served_by_key(stub, pb2, key, 20)
        assert len(set(served)) == 1, (key, served)


def test_hash_keys_spread(hash_cluster, pb2):
    stub, _, _ = hash_cluster
    owners = {f"user-{i}": served_by_key(stub, pb2, f"user-{i}")[0] for i in range(60)}
    counts = {}
    for r in owners.values():
        counts[r] = counts.get(r, 0) + 1
    # 60 keys over 3 replicas (expected 20 each; ports differ per run, so allow a wide margin).
    assert set(counts) == {"r0", "r1", "r2"} and min(counts.values()) >= 5, counts


def test_hash_without_key_round_robin(hash_cluster, pb2):
    stub, _, _ = hash_cluster
    served = [stub.Say(pb2.EchoRequest(message="nokey"), timeout=10).served_by for _ in range(30)]
    assert {served.count(r) for r in ("r0", "r1", "r2")} == {10}, served


def test_hash_removed_replica_moves_only_its_keys(hash_cluster, pb2):
    stub, reps, router = hash_cluster
    keys = [f"user-{i}" for i in range(60)]
    before = {k: served_by_key(stub, pb2, k)[0] for k in keys}
    gone = before[keys[0]]
    reps[int(gone[1])].kill()  # SIGKILL
    router.wait_log(f"{reps[int(gone[1])].target} (set default) is not serving")
    after = {k: served_by_key(stub, pb2, k)[0] for k in keys}
    for k in keys:
        if before[k] == gone:
            assert after[k] != gone, k
        else:
            assert after[k] == before[k], (k, before[k], after[k])
    assert sum(1 for k in keys if after[k] != before[k]) == sum(1 for k in keys if before[k] == gone)
