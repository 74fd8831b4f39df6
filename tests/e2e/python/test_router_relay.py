"""The router's HTTP/2 relay (runtime/router/relay.h) end to end: real
echo_shim replicas, a real router, grpcio clients and raw sockets.

Unary calls go straight to a replica once the router knows the method is
unary (each writes the router's access-log line naming the client's own
address); large messages cross both ways with flow control; many calls on
many connections all arrive; a router drained with SIGTERM lets a call in
flight on the relay finish. Malformed input (not HTTP/2, random bytes, bad
frames, a gRPC message cut short, a client that vanishes mid-call) never
stops the router: each bad connection is closed or its call ends with a
status, and the next good call is served."""
import json
import random
import re
import signal
import socket
import struct
import threading
import time
import urllib.request

import grpc
import pytest

from shimproc import Shim
from test_router import SAY, router_command, wait_unary_plan

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
BIG = 3 * 1024 * 1024
BIG_OPTIONS = [("grpc.max_receive_message_length", 16 << 20), ("grpc.max_send_message_length", 16 << 20)]


@pytest.fixture
def relay(pb2, stubs):
    """Two replicas (r0, r1) behind a router, the unary plan learned."""
    reps = [Shim("--name", f"r{i}", "--metrics-listen", "127.0.0.1:0").start() for i in range(2)]
    args = []
    for s in reps:
        args += ["--backend", s.target]
    router = Shim(*args, "--health-retry-ms", "100", "--metrics-listen", "127.0.0.1:0",
                  command=router_command()).start()
    channel = grpc.insecure_channel(router.target, options=BIG_OPTIONS)
    stub = stubs[1].EchoStub(channel)
    try:
        wait_unary_plan(stub, pb2, router)
        yield stub, reps, router
    finally:
        channel.close()
        rc = router.stop(30) if router.alive() else router.wait(30)
        for p in reps:
            p.kill()
    assert rc == 0, f"router exited {rc}:\n{router.log()}"
    assert "Sanitizer" not in router.log() and "runtime error" not in router.log(), router.log()


def relayed_lines(router):
    """The access-log lines of calls the relay sent straight to a replica (they name the client's address)."""
    return [l for l in router.log().splitlines() if f"forwarded {SAY} from ipv4:127.0.0.1:" in l]


def test_unary_calls_go_straight_to_replicas(relay, pb2):
    stub, _, router = relay
    before = len(relayed_lines(router))
    direct_before = relay_gauge(router, "shimkit_router_relay_direct_calls_total")
    served = {}
    for i in range(40):
        r = stub.Say(pb2.EchoRequest(message=f"m{i}"), timeout=10)
        assert r.message == f"m{i}"
        served[r.served_by] = served.get(r.served_by, 0) + 1
    assert served == {"r0": 20, "r1": 20}, served
    assert relay_gauge(router, "shimkit_router_relay_direct_calls_total") - direct_before == 40
    lines = relayed_lines(router)[before:]
    assert len(lines) == 40, router.log()
    assert all(": OK (1 attempt," in l for l in lines), lines


def test_large_messages_both_ways(relay, pb2):
    """3 MiB each way, four at once on one connection: more than the relay's
    1 MiB stream windows, so the bytes move only as each side consumes them."""
    stub, _, _ = relay
    results = []

    def call(i):
        msg = chr(ord("a") + i) * BIG
        results.append(stub.Say(pb2.EchoRequest(message=msg), timeout=60).message == msg)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert results == [True] * 4


def test_many_connections_many_calls(relay, pb2, stubs):
    """Eight channels (eight connections), 150 calls each, at once: every call arrives and is logged once."""
    _, _, router = relay
    before = len(relayed_lines(router))
    failures = []

    def client(k):
        with grpc.insecure_channel(router.target) as ch:
            s = stubs[1].EchoStub(ch)
            for i in range(150):
                try:
                    r = s.Say(pb2.EchoRequest(message=f"{k}-{i}"), timeout=20)
                    if r.message != f"{k}-{i}":
                        failures.append(r.message)
                except grpc.RpcError as e:
                    failures.append(e.code())

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(relayed_lines(router)) - before < 1200:
        time.sleep(0.05)
    assert len(relayed_lines(router)) - before == 1200


def test_error_status_and_deadline_pass_through(relay, pb2):
    stub, _, _ = relay
    with pytest.raises(grpc.RpcError) as e:
        stub.Say(pb2.EchoRequest(message="x", delay_ms=5000), timeout=0.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(grpc.RpcError) as e:
        stub.Say(pb2.EchoRequest(message="x", fail_code=5, fail_message="no such thing"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == "no such thing"


def test_drain_lets_a_relayed_call_finish(relay, pb2):
    """SIGTERM to the router while a call relayed to a replica is in its
    handler: the call still succeeds, then the router exits 0."""
    stub, reps, router = relay
    fut = stub.Say.future(pb2.EchoRequest(message="slow", delay_ms=1500), timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(r.in_flight(SAY) for r in reps):
        time.sleep(0.02)
    router.signal(signal.SIGTERM)
    assert fut.result(timeout=30).message == "slow"
    assert router.wait(30) == 0, router.log()


# ---- malformed input: raw sockets ----------------------------------------------------------


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    """An HPACK literal header field without indexing, new name, no Huffman (names and values < 127 bytes)."""
    n, v = name.encode(), value.encode()
    return bytes([0, len(n)]) + n + bytes([len(v)]) + v


def request_headers(path=SAY):
    block = b"".join(literal(k, v) for k, v in [(":method", "POST"), (":scheme", "http"), (":path", path),
                                                (":authority", "relay-test"), ("content-type", "application/grpc"),
                                                ("te", "trailers")])
    return frame(1, 0x4, 1, block)  # HEADERS, END_HEADERS, stream 1


def talk(router, data, wait_end_of_stream=False, timeout=10.0, later=None):
    """Sends data on a new connection (and, with later=(seconds, more), more after
    that pause) and reads until the router closes it (or, with
    wait_end_of_stream, until a frame ends stream 1). Returns the frames' (type, flags, stream)."""
    host, port = router.target.rsplit(":", 1)
    frames = []
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        try:
            s.sendall(data)
            if later is not None:
                time.sleep(later[0])
                s.sendall(later[1])
        except (ConnectionResetError, BrokenPipeError):
            return frames  # closed by the router before it read everything
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 9:
                length = int.from_bytes(buf[:3], "big")
                if len(buf) < 9 + length:
                    break
                ftype, flags, stream = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                frames.append((ftype, flags, stream))
                if ftype == 4 and not flags & 1:
                    try:
                        s.sendall(frame(4, 1, 0, b""))  # SETTINGS ack
                    except (ConnectionResetError, BrokenPipeError):
                        return frames
                buf = buf[9 + length:]
            if wait_end_of_stream and any(st == 1 and (t == 3 or (t in (0, 1) and f & 1)) for t, f, st in frames):
                break
        else:
            pytest.fail(f"the router neither closed the connection nor ended the call within {timeout} s: {frames}")
    return frames


def assert_still_serving(relay_fixture, pb2):
    stub, _, router = relay_fixture
    assert router.alive(), router.log()
    assert stub.Say(pb2.EchoRequest(message="after"), timeout=10).message == "after"


BAD_CONNECTIONS = {
    "http1": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "random_bytes": random.Random(7).randbytes(100_000),
    "half_preface": PREFACE[:10],
    "settings_bad_length": PREFACE + frame(4, 0, 0, b"\x00" * 7),
    "headers_bad_hpack": PREFACE + frame(4, 0, 0, b"") + frame(1, 0x4, 1, b"\xff" * 24),
    "even_stream_id": PREFACE + frame(4, 0, 0, b"") + frame(1, 0x4, 2, literal(":method", "POST")),
    "data_before_headers": PREFACE + frame(4, 0, 0, b"") + frame(0, 0x1, 1, b"\x00\x00\x00\x00\x00"),
    "huge_frame_length": PREFACE + frame(4, 0, 0, b"") + b"\xff\xff\xff\x00\x00\x00\x00\x00\x01",
}


@pytest.mark.parametrize("name", sorted(BAD_CONNECTIONS))
def test_malformed_connection_is_closed_and_router_serves_on(relay, pb2, name):
    _, _, router = relay
    frames = talk(router, BAD_CONNECTIONS[name])
    # The router said GOAWAY (type 7) or just closed; it never answered a call on such a connection.
    assert not any(t == 1 and st == 1 for t, _, st in frames), frames
    assert_still_serving(relay, pb2)


def test_grpc_message_cut_short_ends_with_a_status(relay, pb2):
    """A request whose gRPC length prefix promises 64 bytes and ends after 3:
    the call ends (a status or a reset), the router serves on."""
    _, _, router = relay
    body = b"\x00" + struct.pack(">I", 64) + b"abc"
    frames = talk(router, PREFACE + frame(4, 0, 0, b"") + request_headers() + frame(0, 0x1, 1, body),
                  wait_end_of_stream=True)
    assert any(st == 1 and (t == 3 or f & 1) for t, f, st in frames), frames
    assert_still_serving(relay, pb2)


def test_bad_path_ends_with_a_status(relay, pb2):
    _, _, router = relay
    body = b"\x00\x00\x00\x00\x00"
    frames = talk(router, PREFACE + frame(4, 0, 0, b"") + request_headers("/no-service") + frame(0, 0x1, 1, body),
                  wait_end_of_stream=True)
    assert any(st == 1 and (t == 3 or f & 1) for t, f, st in frames), frames
    assert_still_serving(relay, pb2)


def test_client_vanishing_mid_call_cancels_it_at_the_replica(relay, pb2):
    """A client sends a slow call and closes its socket: the replica's handler
    sees the cancellation, the router serves on."""
    _, reps, router = relay
    before = sum(r.log().count("CANCELLED") for r in reps)
    msg = pb2.EchoRequest(message="gone", delay_ms=300000).SerializeToString()
    body = b"\x00" + struct.pack(">I", len(msg)) + msg
    host, port = router.target.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(PREFACE + frame(4, 0, 0, b"") + request_headers() + frame(0, 0x1, 1, body))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(r.in_flight(SAY) for r in reps):
            time.sleep(0.02)
        assert any(r.in_flight(SAY) for r in reps), "the call never reached a replica"
    deadline = time.monotonic() + 20  # far before the 5 minutes the handler would take
    while time.monotonic() < deadline and sum(r.log().count("CANCELLED") for r in reps) == before:
        time.sleep(0.05)
    assert sum(r.log().count("CANCELLED") for r in reps) > before, "\n".join(r.log() for r in reps)
    assert_still_serving(relay, pb2)


# ---- what the review of the relay found (each failed before its fix) ----------------------------


def say_lines(reps):
    """Each replica's access-log lines of Say calls, parsed."""
    return [[json.loads(l) for l in r.log().splitlines() if l.startswith("{") and f'"method":"{SAY}"' in l]
            for r in reps]


def late_headers_call(router, pb2, grpc_timeout, pause):
    """A unary Say whose header block comes in two parts, pause seconds apart:
    HEADERS with the pseudo-headers, then CONTINUATION with the rest and
    grpc-timeout. The call arrived with its first part: its deadline counts
    from there. Returns the frames seen until stream 1 ends."""
    msg = pb2.EchoRequest(message="late").SerializeToString()
    first = b"".join(literal(k, v) for k, v in [(":method", "POST"), (":scheme", "http"), (":path", SAY),
                                                (":authority", "relay-test")])
    rest = b"".join(literal(k, v) for k, v in [("content-type", "application/grpc"), ("te", "trailers"),
                                               ("grpc-timeout", grpc_timeout)])
    body = b"\x00" + struct.pack(">I", len(msg)) + msg
    return talk(router, PREFACE + frame(4, 0, 0, b"") + frame(1, 0, 1, first),  # HEADERS without END_HEADERS
                wait_end_of_stream=True, timeout=20,
                later=(pause, frame(9, 0x4, 1, rest) + frame(0, 0x1, 1, body)))  # CONTINUATION, DATA


def test_relayed_call_gets_what_is_left_of_its_deadline(relay, pb2):
    """The grpc-timeout a relayed call carries to its replica is what is left
    of the client's deadline when the relay sends it, not the client's whole
    timeout again: 5 s given, 1.5 s gone before the call could be sent, so
    the replica's access log says about 3.5 s (it said 5 s)."""
    _, reps, router = relay
    before = [len(lines) for lines in say_lines(reps)]
    relayed_before = len(relayed_lines(router))
    frames = late_headers_call(router, pb2, "5S", 1.5)
    assert any(st == 1 and t in (0, 1) and f & 1 for t, f, st in frames), frames
    deadline = time.monotonic() + 10
    new = []
    while time.monotonic() < deadline and not new:
        new = [l for lines, n in zip(say_lines(reps), before) for l in lines[n:]]
        time.sleep(0.05)
    assert len(new) == 1 and new[0]["code"] == "OK", new
    assert 2500 <= new[0]["deadline_ms"] <= 3600, new[0]
    router.wait_log(f"forwarded {SAY} from ipv4:127.0.0.1:", count=relayed_before + 1)


def test_relayed_call_whose_deadline_passed_is_not_sent(relay, pb2):
    """A call whose whole deadline (1 s) went by before it could be sent ends
    DEADLINE_EXCEEDED in the relay (trailers-only HEADERS): no replica sees it
    (one did, with a fresh second to run in)."""
    _, reps, router = relay
    before = [len(lines) for lines in say_lines(reps)]
    frames = late_headers_call(router, pb2, "1S", 1.5)
    assert any(st == 1 and t == 1 and f & 1 for t, f, st in frames), frames
    router.wait_log("DEADLINE_EXCEEDED before it was sent anywhere")  # the router's log says what became of it
    time.sleep(1)
    assert [len(lines) for lines in say_lines(reps)] == before, "\n".join(r.log() for r in reps)
    assert sum(r.in_flight(SAY) for r in reps) == 0
    assert_still_serving(relay, pb2)


EXPAND = "/shimkit.examples.v1.Echo/Expand"


def test_server_path_logs_the_clients_own_address(pb2, stubs):
    """A stream goes through the relay to the router's server over its private
    unix socket: the router's access log (its JSON line, its forwarded line)
    names the client's own address, not unix:. A shimkit-relay-peer header the
    client sends itself is not believed (the logged address is still the real
    one) and reaches no replica, on that path or straight from the relay (a
    unary Say); neither does the relay's own. The replica is a grpcio server
    (with reflection, so that Say is relayed) that keeps the metadata of each
    call it gets."""
    from concurrent import futures
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection
    seen = []

    class Recorder(stubs[1].EchoServicer):
        def Expand(self, request, context):
            seen.append(dict(context.invocation_metadata()))
            for i in range(request.count):
                yield pb2.EchoReply(message=request.message, index=i, served_by="py")

        def Say(self, request, context):
            seen.append(dict(context.invocation_metadata()))
            return pb2.EchoReply(message=request.message, served_by="py")

    replica = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    stubs[1].add_EchoServicer_to_server(Recorder(), replica)
    hs = health.HealthServicer()
    hs.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(hs, replica)
    reflection.enable_server_reflection([pb2.DESCRIPTOR.services_by_name["Echo"].full_name,
                                         reflection.SERVICE_NAME], replica)
    port = replica.add_insecure_port("127.0.0.1:0")
    replica.start()
    router = Shim("--backend", f"127.0.0.1:{port}", "--health-retry-ms", "100", command=router_command()).start()
    try:
        with grpc.insecure_channel(router.target) as ch:
            stub = stubs[1].EchoStub(ch)
            forged = [("shimkit-relay-peer", "ipv4:6.6.6.6:666"), ("x-other", "kept")]
            deadline = time.monotonic() + 20
            while True:  # until the router's health watch has seen the replica SERVING
                try:
                    replies = list(stub.Expand(pb2.ExpandRequest(message="p", count=2), metadata=forged, timeout=10))
                    break
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            assert [r.message for r in replies] == ["p", "p"]
            wait_unary_plan(stub, pb2, router)
            relayed = len(relayed_lines(router))
            assert stub.Say(pb2.EchoRequest(message="fast"), metadata=forged, timeout=10).message == "fast"
            router.wait_log(f"forwarded {SAY} from ipv4:127.0.0.1:", count=relayed + 1)
            reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        log = router.wait_log(f"forwarded {EXPAND} from ")
        log = router.wait_log('"method":"/grpc.health.v1.Health/Check"')
        assert len([md for md in seen if md.get("x-other") == "kept"]) == 2, seen  # the Expand and the Say
        assert not any("shimkit-relay-peer" in md for md in seen), seen
        assert "6.6.6.6" not in log, log
        access = [json.loads(l) for l in log.splitlines() if l.startswith("{") and '"method":' in l]
        for method in (EXPAND, "/grpc.health.v1.Health/Check"):
            peers = [a["peer"] for a in access if a["method"] == method]
            assert peers and all(re.fullmatch(r"ipv4:127\.0\.0\.1:\d+", p) for p in peers), (method, log)
        forwarded = [l for l in log.splitlines() if f"forwarded {EXPAND} from " in l]
        assert forwarded and all(f"forwarded {EXPAND} from ipv4:127.0.0.1:" in l for l in forwarded), log
    finally:
        rc = router.stop(30)
        replica.stop(0)
    assert rc == 0, router.log()


def test_named_backends_take_one_turn_per_call(pb2, stubs, monkeypatch):
    """Replicas given by name (localhost:PORT) are reached through the router's
    server, whose channel resolves names; the relay must not take a
    round-robin turn of its own first (every call went to the same replica)."""
    # gRPC's c-ares resolver leaves 20 bytes allocated at exit, which LeakSanitizer
    # reports in build-asan; the system resolver resolves localhost the same way.
    monkeypatch.setenv("GRPC_DNS_RESOLVER", "native")
    reps = [Shim("--name", f"n{i}").start() for i in range(2)]
    router = Shim("--backend", f"localhost:{reps[0].port}", "--backend", f"localhost:{reps[1].port}",
                  command=router_command()).start()
    try:
        with grpc.insecure_channel(router.target) as ch:
            stub = stubs[1].EchoStub(ch)
            wait_unary_plan(stub, pb2, router)
            served = {}
            for i in range(20):
                r = stub.Say(pb2.EchoRequest(message=f"n{i}"), timeout=10)
                served[r.served_by] = served.get(r.served_by, 0) + 1
        assert served == {"n0": 10, "n1": 10}, served
    finally:
        rc = router.stop(30)
        for p in reps:
            p.kill()
    assert rc == 0, router.log()


def test_stalled_readers_do_not_stall_other_calls(relay, pb2, stubs):
    """70 server streams whose client never reads (each fills its window in
    the relay: more than a whole connection's window together) on the one
    connection between the relay and the router's server: a health check and
    a unary call on another channel are still answered."""
    _, _, router = relay
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
    stalled = grpc.insecure_channel(router.target, options=BIG_OPTIONS)
    calls = [stubs[1].EchoStub(stalled).Expand(pb2.ExpandRequest(message="s" * 65536, count=200), timeout=120)
             for _ in range(70)]
    try:
        time.sleep(2)  # let them fill every window they can (nothing below depends on this being long enough)
        with grpc.insecure_channel(router.target) as ch:
            reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=20)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            assert stubs[1].EchoStub(ch).Say(pb2.EchoRequest(message="through"), timeout=20).message == "through"
    finally:
        for c in calls:
            c.cancel()
        stalled.close()
    assert_still_serving(relay, pb2)


def test_drain_delivers_a_stream_through_the_server_path(relay, pb2):
    """SIGTERM while a server stream (through the router's server) is under
    way: every message and the OK status reach the client, then the router exits 0."""
    stub, _, router = relay
    call = stub.Expand(pb2.ExpandRequest(message="d", count=8, interval_ms=150), timeout=30)
    first = next(call)
    router.signal(signal.SIGTERM)
    rest = list(call)
    assert [first.message] + [r.message for r in rest] == ["d"] * 8
    assert call.code() == grpc.StatusCode.OK
    assert router.wait(30) == 0, router.log()


def test_out_of_descriptors_rests_and_recovers(pb2, stubs):
    """The router limited to 128 open files, 150 connections at once: accept
    fails (EMFILE); the router says so, rests its listener instead of spinning,
    and serves again once the connections are gone."""
    reps = [Shim("--name", "f0").start()]
    router = Shim("--backend", reps[0].target, command=["prlimit", "--nofile=128:128", *router_command()]).start()
    socks = []
    try:
        host, port = router.target.rsplit(":", 1)
        for _ in range(150):
            try:
                socks.append(socket.create_connection((host, int(port)), timeout=10))
            except OSError:
                break
        router.wait_log("relay: cannot take a connection (Too many open files)")
        for s in socks:
            s.close()
        socks = []
        with grpc.insecure_channel(router.target) as ch:
            assert stubs[1].EchoStub(ch).Say(pb2.EchoRequest(message="back"), timeout=20).message == "back"
        assert router.alive()
    finally:
        for s in socks:
            s.close()
        rc = router.stop(30)
        for p in reps:
            p.kill()
    assert rc == 0, router.log()


# ---- the retry buffer (--retry-buffer-mib): what the relay keeps to send a call again ------------


def relay_gauge(router, name):
    """A gauge of the router's /metrics (the router runs with --metrics-listen)."""
    with urllib.request.urlopen(f"http://{router.metrics_address()}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(f"{name} "):
                return int(float(line.rsplit(" ", 1)[1]))
    raise AssertionError(f"no {name} in the router's metrics")


def test_retry_buffer_bounds_the_requests_kept(pb2, stubs):
    """A 1 MiB retry buffer and four 400 KiB calls waiting in the replica at
    once: the relay keeps what fits (the gauge stays within the buffer), says
    once that it is full, every call is still answered, and once they are
    all answered nothing is kept."""
    rep = Shim("--name", "k0", "--metrics-listen", "127.0.0.1:0").start()
    router = Shim("--backend", rep.target, "--retry-buffer-mib", "1", "--metrics-listen", "127.0.0.1:0",
                  command=router_command()).start()
    try:
        with grpc.insecure_channel(router.target, options=BIG_OPTIONS) as ch:
            stub = stubs[1].EchoStub(ch)
            wait_unary_plan(stub, pb2, router)
            assert relay_gauge(router, "shimkit_router_relay_retry_buffer_limit_bytes") == 1 << 20
            body = "k" * (400 * 1024)
            calls = [stub.Say.future(pb2.EchoRequest(message=body, delay_ms=3000), timeout=30) for _ in range(4)]
            rep.wait_in_flight(SAY, 4)
            router.wait_log("the relay's retry buffer is full")
            kept = relay_gauge(router, "shimkit_router_relay_retry_buffer_bytes")
            assert 400 * 1024 < kept <= 1 << 20, kept  # two calls' requests fit, the others are not kept
            assert [c.result().message for c in calls] == [body] * 4
        assert relay_gauge(router, "shimkit_router_relay_retry_buffer_bytes") == 0
        assert router.log().count("retry buffer is full") == 1, router.log()
        assert len(relayed_lines(router)) >= 4, router.log()
    finally:
        rc = router.stop(30)
        rep.kill()
    assert rc == 0, router.log()


@pytest.mark.parametrize("buffer_mib", ["64", "0"])
def test_a_draining_replica_under_load(pb2, stubs, buffer_mib):
    """4 clients call without pause while one replica of two drains (SIGTERM,
    with a drain delay). With the retry buffer (the default size), a call the draining replica
    refuses is sent to the other replica by the relay: every call succeeds.
    With none (--retry-buffer-mib 0), the relay keeps nothing and refuses
    such a call to its client, whose gRPC library sends it once more; a call
    refused twice fails UNAVAILABLE, never another way, and nothing hangs."""
    # --drain-delay-ms, as shimctl starts replicas: the router sees NOT_SERVING
    # before the replica refuses calls (without it, a call gRPC core takes in
    # as the drain begins is cancelled, and that cannot be retried).
    reps = [Shim("--name", f"z{i}", "--drain-delay-ms", "300").start() for i in range(2)]
    router = Shim("--backend", reps[0].target, "--backend", reps[1].target, "--retry-buffer-mib", buffer_mib,
                  "--health-retry-ms", "100", command=router_command()).start()
    failures, done = [], [0]
    stop = threading.Event()
    lock = threading.Lock()

    def client():
        with grpc.insecure_channel(router.target) as ch:
            stub = stubs[1].EchoStub(ch)
            for i in range(2000):
                if stop.is_set():
                    return
                try:
                    assert stub.Say(pb2.EchoRequest(message=f"z{i}"), timeout=20).message == f"z{i}"
                    with lock:
                        done[0] += 1
                except grpc.RpcError as e:
                    failures.append((e.code(), e.details()))

    try:
        with grpc.insecure_channel(router.target) as ch:
            wait_unary_plan(stubs[1].EchoStub(ch), pb2, router)
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        reps[0].signal(signal.SIGTERM)
        assert reps[0].wait(30) == 0, reps[0].log()
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(60)
        if buffer_mib == "0":
            assert all(code == grpc.StatusCode.UNAVAILABLE for code, _ in failures), failures[:5]
            assert len(failures) < done[0] / 10, (len(failures), done[0])
        else:
            assert not failures, failures[:5]
        assert done[0] > 0
        assert "retry buffer is full" not in router.log()
    finally:
        stop.set()
        rc = router.stop(30)
        for p in reps:
            p.kill()
    assert rc == 0, router.log()
