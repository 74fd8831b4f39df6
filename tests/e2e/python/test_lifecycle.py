"""Shims of their own: size limits, killed clients, drain on SIGTERM, health Watch."""
import os
import re
import signal
import subprocess
import sys
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

HERE = os.path.dirname(os.path.abspath(__file__))
SAY = "/shimkit.examples.v1.Echo/Say"


def connect(shim, stubs):
    ch = grpc.insecure_channel(shim.target)
    grpc.channel_ready_future(ch).result(timeout=20)
    return ch, stubs[1].EchoStub(ch)


def test_oversized_message_is_resource_exhausted(new_shim, stubs, pb2):
    shim = new_shim("--max-message-bytes", "1024")
    ch, stub = connect(shim, stubs)
    with ch:
        with pytest.raises(grpc.RpcError) as e:
            stub.Say(pb2.EchoRequest(message="x" * 4096), timeout=10)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Under the limit still works, on the same connection.
        assert stub.Say(pb2.EchoRequest(message="small"), timeout=10).message == "small"
    assert shim.stop() == 0


def test_client_killed_mid_stream_server_keeps_serving(new_shim, stubs, pb2):
    shim = new_shim()
    child = subprocess.Popen([sys.executable, os.path.join(HERE, "stream_client.py"), shim.target],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()  # the client prints once it has its first replies
        assert line.startswith("streaming"), f"client said {line!r}; stderr: {child.stderr.read()}"
    finally:
        child.kill()  # SIGKILL: no goodbye on the wire, just a closed socket
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    ch, stub = connect(shim, stubs)
    with ch:
        for i in range(5):
            assert stub.Say(pb2.EchoRequest(message=f"after kill {i}"), timeout=10).message == f"after kill {i}"
        assert list(r.index for r in stub.Expand(pb2.ExpandRequest(message="e", count=3), timeout=10)) == [0, 1, 2]
    assert shim.alive()
    assert shim.stop() == 0


def test_sigterm_lets_in_flight_call_finish(new_shim, stubs, pb2):
    shim = new_shim("--drain-grace-ms", "5000", "--metrics-listen", "127.0.0.1:0")
    ch, stub = connect(shim, stubs)
    with ch:
        assert stub.Say(pb2.EchoRequest(message="warm"), timeout=10).message == "warm"
        fut = stub.Say.future(pb2.EchoRequest(message="in flight", delay_ms=1000), timeout=30)
        # SIGTERM only once the call runs in the handler: one that has not
        # reached the server yet is refused by the drain (UNAVAILABLE).
        shim.wait_in_flight(SAY)
        shim.signal(signal.SIGTERM)
        reply = fut.result(timeout=30)
        assert reply.message == "in flight"
        assert shim.wait(30) == 0, shim.log()
        # A new connection is refused once the shim is gone.
        with pytest.raises(grpc.RpcError) as e:
            stub.Say(pb2.EchoRequest(message="late"), timeout=5)
        assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_sigterm_past_grace_cuts_the_call_off(new_shim, stubs, pb2):
    shim = new_shim("--drain-grace-ms", "500", "--metrics-listen", "127.0.0.1:0")
    ch, stub = connect(shim, stubs)
    with ch:
        assert stub.Say(pb2.EchoRequest(message="warm"), timeout=10).message == "warm"
        # A handler that would take 10 minutes: the drain must cut it off once
        # its 0.5 s grace is over (a shim that waited for it would not exit
        # within the 30 s wait below, and the call would end OK).
        fut = stub.Say.future(pb2.EchoRequest(message="too slow", delay_ms=600000), timeout=900)
        shim.wait_in_flight(SAY)  # on the server, in the handler: the drain must cut it off
        shim.signal(signal.SIGTERM)
        with pytest.raises(grpc.RpcError) as e:
            fut.result(timeout=60)
        assert e.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE), e.value
        rc = shim.wait(30)
        assert rc == 0, shim.log()
        log = shim.log()
        # The drain's grace ran out and it cancelled the call.
        assert "drain grace over: cancelling 1 calls" in log, log
        assert re.search(f'"method":"{SAY}","code":"(CANCELLED|UNAVAILABLE)"', log), log


def test_health_watch_sees_not_serving_on_sigterm(new_shim):
    shim = new_shim("--drain-grace-ms", "3000")
    ch = grpc.insecure_channel(shim.target)
    with ch:
        health = health_pb2_grpc.HealthStub(ch)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
        first = next(watch)
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        shim.signal(signal.SIGTERM)
        statuses = []
        try:
            for resp in watch:
                statuses.append(resp.status)
                if resp.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                    break
        except grpc.RpcError:
            pass  # the stream may end after NOT_SERVING; what matters is that it was seen
        assert health_pb2.HealthCheckResponse.NOT_SERVING in statuses, statuses
        watch.cancel()
        assert shim.wait(30) == 0, shim.log()


def test_drain_delay_serves_new_calls_while_health_is_not_serving(new_shim, stubs, pb2):
    """--drain-delay-ms: on SIGTERM, health reads NOT_SERVING at once, yet a
    call made then, on a new connection, is still served; after the delay
    the shim drains and exits 0. (Without it a call that reaches gRPC core
    once the drain began is cancelled, which a router cannot retry.)"""
    shim = new_shim("--drain-delay-ms", "2000", "--drain-grace-ms", "3000")
    with grpc.insecure_channel(shim.target) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING
        shim.signal(signal.SIGTERM)
        shim.wait_log("new calls still served for 2000 ms")
        assert health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status == \
            health_pb2.HealthCheckResponse.NOT_SERVING
    ch2, stub = connect(shim, stubs)
    with ch2:
        assert stub.Say(pb2.EchoRequest(message="during the delay"), timeout=10).message == "during the delay"
    assert shim.wait(30) == 0, shim.log()
    log = shim.log()
    assert log.index("new calls still served for 2000 ms") < re.search(r"draining: \d+ calls in flight", log).start(), log
    assert re.search(f'"method":"{SAY}","code":"OK"', log), log


def test_health_watch_of_unknown_service(new_shim):
    shim = new_shim()
    ch = grpc.insecure_channel(shim.target)
    with ch:
        health = health_pb2_grpc.HealthStub(ch)
        watch = health.Watch(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=30)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        watch.cancel()
    assert shim.stop() == 0


def test_sigterm_when_idle_exits_zero_and_logs(new_shim):
    shim = new_shim()
    assert shim.stop() == 0
    assert "listening on" in shim.log()
