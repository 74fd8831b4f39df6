"""The four RPC kinds, metadata, deadlines, cancellation and error paths, with grpcio."""
import queue
import threading

import grpc
import pytest

SAY = "/shimkit.examples.v1.Echo/Say"


def test_say_echoes_message_index_time_and_name(stub, pb2):
    reply = stub.Say(pb2.EchoRequest(message="hello"), timeout=10)
    assert reply.message == "hello"
    assert reply.index == 0
    assert reply.served_by == "e2e-python"
    assert reply.handled_at.seconds > 1_600_000_000


def test_say_empty_request(stub, pb2):
    reply = stub.Say(pb2.EchoRequest(), timeout=10)
    assert reply.message == ""
    assert reply.served_by == "e2e-python"


def test_say_utf8_and_large_message(stub, pb2):
    text = "héllo wörld ✓ " * 20000  # ~300 KB, under the 4 MiB default
    assert stub.Say(pb2.EchoRequest(message=text), timeout=20).message == text


def test_expand_streams_count_replies_in_order(stub, pb2):
    replies = list(stub.Expand(pb2.ExpandRequest(message="tick", count=5, interval_ms=5), timeout=10))
    assert [r.index for r in replies] == [0, 1, 2, 3, 4]
    assert all(r.message == "tick" and r.served_by == "e2e-python" for r in replies)


def test_expand_count_zero_is_an_empty_stream(stub, pb2):
    call = stub.Expand(pb2.ExpandRequest(message="none", count=0), timeout=10)
    assert list(call) == []
    assert call.code() == grpc.StatusCode.OK


def test_collect_joins_with_spaces(stub, pb2):
    reqs = (pb2.EchoRequest(message=m) for m in ["a", "bb", "ccc"])
    reply = stub.Collect(reqs, timeout=10)
    assert reply.joined == "a bb ccc"
    assert reply.count == 3


def test_collect_of_nothing(stub, pb2):
    reply = stub.Collect(iter(()), timeout=10)
    assert reply.joined == ""
    assert reply.count == 0


def test_chat_replies_per_message_as_they_come(stub, pb2):
    """Each reply arrives before the next request is sent: really bidirectional."""
    outbox = queue.Queue()

    def requests():
        while True:
            item = outbox.get()
            if item is None:
                return
            yield item

    call = stub.Chat(requests(), timeout=20)
    got = []
    for i, word in enumerate(["one", "two", "three"]):
        outbox.put(pb2.EchoRequest(message=word))
        r = next(call)
        got.append((r.index, r.message))
        assert r.served_by == "e2e-python"
    outbox.put(None)
    assert list(call) == []
    assert got == [(0, "one"), (1, "two"), (2, "three")]
    assert call.code() == grpc.StatusCode.OK


def test_error_status_with_message(stub, pb2):
    with pytest.raises(grpc.RpcError) as e:
        stub.Say(pb2.EchoRequest(message="x", fail_code=5, fail_message="no such model 'm1'"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == "no such model 'm1'"


@pytest.mark.parametrize("code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED,
                                  grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL])
def test_error_codes_pass_through(stub, pb2, code):
    with pytest.raises(grpc.RpcError) as e:
        stub.Say(pb2.EchoRequest(fail_code=code.value[0], fail_message=f"asked for {code.name}"), timeout=10)
    assert e.value.code() == code
    assert e.value.details() == f"asked for {code.name}"


def test_out_of_range_fail_code_is_invalid_argument(stub, pb2):
    with pytest.raises(grpc.RpcError) as e:
        stub.Say(pb2.EchoRequest(fail_code=99), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "99" in e.value.details()


def test_error_in_client_stream(stub, pb2):
    reqs = iter([pb2.EchoRequest(message="ok"), pb2.EchoRequest(fail_code=9, fail_message="stop here")])
    with pytest.raises(grpc.RpcError) as e:
        stub.Collect(reqs, timeout=10)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.details() == "stop here"


def test_error_in_bidi_stream_after_replies(stub, pb2):
    reqs = iter([pb2.EchoRequest(message="a"), pb2.EchoRequest(message="b"),
                 pb2.EchoRequest(fail_code=8, fail_message="too many")])
    call = stub.Chat(reqs, timeout=10)
    got = []
    with pytest.raises(grpc.RpcError) as e:
        for r in call:
            got.append(r.message)
    assert got == ["a", "b"]
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert e.value.details() == "too many"


def test_metadata_echoed_as_headers_and_trailers(stub, pb2):
    md = [("x-echo-a", "1"), ("x-echo-user", "me"), ("x-other", "not echoed"), ("x-echo-data-bin", b"\x00\xff\x01")]
    reply, call = stub.Say.with_call(pb2.EchoRequest(message="md"), metadata=md, timeout=10)
    assert reply.message == "md"
    initial = list(call.initial_metadata())
    trailing = list(call.trailing_metadata())
    assert ("x-echo-a", "1") in initial
    assert ("x-echo-user", "me") in initial
    assert ("x-echo-data-bin", b"\x00\xff\x01") in initial
    assert ("x-echo-a-trailer", "1") in trailing
    assert ("x-echo-user-trailer", "me") in trailing
    assert ("x-echo-data-trailer-bin", b"\x00\xff\x01") in trailing
    assert all(k != "x-other" for k, _ in initial + trailing)
    assert all(k != "x-echo-a" for k, _ in trailing)


def test_metadata_on_server_stream(stub, pb2):
    call = stub.Expand(pb2.ExpandRequest(message="m", count=2), metadata=[("x-echo-trace", "abc")], timeout=10)
    assert ("x-echo-trace", "abc") in list(call.initial_metadata())
    assert len(list(call)) == 2
    assert ("x-echo-trace-trailer", "abc") in list(call.trailing_metadata())


def test_metadata_on_bidi_stream(stub, pb2):
    call = stub.Chat(iter([pb2.EchoRequest(message="x")]), metadata=[("x-echo-k", "v")], timeout=10)
    assert [r.message for r in call] == ["x"]
    assert ("x-echo-k", "v") in list(call.initial_metadata())
    assert ("x-echo-k-trailer", "v") in list(call.trailing_metadata())


def test_deadline_exceeded_then_server_still_serves(stub, pb2):
    with pytest.raises(grpc.RpcError) as e:
        stub.Say(pb2.EchoRequest(message="slow", delay_ms=5000), timeout=0.3)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert stub.Say(pb2.EchoRequest(message="after"), timeout=10).message == "after"


def test_deadline_exceeded_on_server_stream(stub, pb2):
    """A stream whose deadline passes midway: the replies sent so far arrive,
    in order from the first, then DEADLINE_EXCEEDED. The deadline (5 s, time
    enough for the first reply on a busy machine) is far shorter than the
    100 s the 1000 replies would take."""
    call = stub.Expand(pb2.ExpandRequest(message="s", count=1000, interval_ms=100), timeout=5)
    got = []
    with pytest.raises(grpc.RpcError) as e:
        for r in call:
            got.append(r.index)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert got and got == list(range(len(got))) and len(got) < 1000, got


def test_client_cancels_server_stream_after_first_reply(stub, pb2, shim):
    call = stub.Expand(pb2.ExpandRequest(message="c", count=1000, interval_ms=20), timeout=30)
    first = next(call)
    assert first.index == 0
    assert call.cancel()
    with pytest.raises(grpc.RpcError) as e:
        for _ in call:
            pass
    assert e.value.code() == grpc.StatusCode.CANCELLED
    assert stub.Say(pb2.EchoRequest(message="still here"), timeout=10).message == "still here"
    assert shim.alive()


def test_client_cancels_chat_after_first_reply(stub, pb2, shim):
    outbox = queue.Queue()

    def requests():
        while True:
            item = outbox.get()
            if item is None:
                return
            yield item

    call = stub.Chat(requests(), timeout=30)
    outbox.put(pb2.EchoRequest(message="first"))
    assert next(call).message == "first"
    assert call.cancel()
    outbox.put(None)
    assert call.code() == grpc.StatusCode.CANCELLED
    assert stub.Say(pb2.EchoRequest(message="next"), timeout=10).message == "next"
    assert shim.alive()


def test_client_cancels_during_delay(stub, pb2, shim):
    fut = stub.Say.future(pb2.EchoRequest(message="slow", delay_ms=10000), timeout=30)
    threading.Event().wait(0.3)
    assert fut.cancel()
    assert fut.cancelled()
    assert stub.Say(pb2.EchoRequest(message="next"), timeout=10).message == "next"


def test_unknown_method_is_unimplemented(channel):
    call = channel.unary_unary("/shimkit.examples.v1.Echo/NoSuchMethod")
    with pytest.raises(grpc.RpcError) as e:
        call(b"", timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_unknown_service_is_unimplemented(channel):
    call = channel.unary_unary("/no.such.v1.Service/Call")
    with pytest.raises(grpc.RpcError) as e:
        call(b"", timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_malformed_request_bytes_are_invalid_argument(stub, pb2, channel):
    raw = channel.unary_unary(SAY)  # no serializers: bytes go out as they are
    with pytest.raises(grpc.RpcError) as e:
        raw(b"\xff\xff\xff", timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details()
    # Valid bytes on the same raw path work.
    out = raw(pb2.EchoRequest(message="raw").SerializeToString(), timeout=10)
    assert pb2.EchoReply.FromString(out).message == "raw"


def test_many_concurrent_calls(stub, pb2):
    futs = [stub.Say.future(pb2.EchoRequest(message=f"m{i}", delay_ms=20), timeout=30) for i in range(64)]
    assert [f.result().message for f in futs] == [f"m{i}" for i in range(64)]


def test_health_check(channel):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    h = health_pb2_grpc.HealthStub(channel)
    assert h.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status == \
        health_pb2.HealthCheckResponse.SERVING
    assert h.Check(health_pb2.HealthCheckRequest(service="shimkit.examples.v1.Echo"), timeout=10).status == \
        health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as e:
        h.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
