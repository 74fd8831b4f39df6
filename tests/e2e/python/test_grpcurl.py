"""grpcurl against the shim, through server reflection only (no .proto files given)."""
import json
import os
import subprocess

import pytest

from conftest import ROOT

GRPCURL = os.environ.get("SHIMKIT_GRPCURL", os.path.join(ROOT, ".tools", "bin", "grpcurl"))
ECHO = "shimkit.examples.v1.Echo"


@pytest.fixture(scope="module", autouse=True)
def have_grpcurl():
    assert os.access(GRPCURL, os.X_OK), f"grpcurl not found at {GRPCURL}: run scripts/setup.sh"


def grpcurl(shim, *opts, data=None, timeout=30):
    """Runs grpcurl -plaintext [flags] TARGET [words]; returns the CompletedProcess."""
    argv = [GRPCURL, "-plaintext"]
    if data is not None:
        argv += ["-d", data if isinstance(data, str) else json.dumps(data)]
    return subprocess.run(argv + _split(shim, list(opts)), capture_output=True, text=True, timeout=timeout)


def _split(shim, opts):
    """Flags (anything before the first non-flag word) go before the address, the rest after."""
    flags, rest = [], []
    i = 0
    while i < len(opts) and opts[i].startswith("-"):
        flags.append(opts[i])
        if opts[i] in ("-H", "-max-time", "-rpc-header", "-reflect-header", "-connect-timeout",
                       "-proto", "-import-path"):
            flags.append(opts[i + 1])
            i += 1
        i += 1
    rest = opts[i:]
    return flags + [shim.target] + rest


def ok(r):
    assert r.returncode == 0, f"grpcurl exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r.stdout


def json_stream(text):
    """grpcurl prints one pretty JSON object per message; parse them all."""
    dec = json.JSONDecoder()
    out, i = [], 0
    text = text.strip()
    while i < len(text):
        obj, j = dec.raw_decode(text, i)
        out.append(obj)
        i = j
        while i < len(text) and text[i].isspace():
            i += 1
    return out


def test_list_shows_echo_health_and_reflection(shim):
    services = ok(grpcurl(shim, "list")).split()
    assert ECHO in services
    assert "grpc.health.v1.Health" in services
    assert any(s.startswith("grpc.reflection.") and s.endswith(".ServerReflection") for s in services), services


def test_list_methods_of_echo(shim):
    methods = ok(grpcurl(shim, "list", ECHO)).split()
    assert sorted(methods) == sorted([f"{ECHO}.Say", f"{ECHO}.Expand", f"{ECHO}.Collect", f"{ECHO}.Chat"])


def test_describe_service(shim):
    out = ok(grpcurl(shim, "describe", ECHO))
    assert f"{ECHO} is a service" in out
    assert "rpc Say ( .shimkit.examples.v1.EchoRequest ) returns ( .shimkit.examples.v1.EchoReply );" in out
    assert "rpc Expand ( .shimkit.examples.v1.ExpandRequest ) returns ( stream .shimkit.examples.v1.EchoReply );" in out
    assert "rpc Collect ( stream .shimkit.examples.v1.EchoRequest ) returns ( .shimkit.examples.v1.CollectReply );" in out
    assert "rpc Chat ( stream .shimkit.examples.v1.EchoRequest ) returns ( stream .shimkit.examples.v1.EchoReply );" in out


def test_describe_message_with_imported_type(shim):
    out = ok(grpcurl(shim, "describe", "shimkit.examples.v1.EchoReply"))
    assert "shimkit.examples.v1.EchoReply is a message" in out
    assert "string message = 1;" in out
    assert "uint32 index = 2;" in out
    assert ".google.protobuf.Timestamp handled_at = 3;" in out
    assert "string served_by = 4;" in out
    # The import resolves too.
    assert "google.protobuf.Timestamp is a message" in ok(grpcurl(shim, "describe", "google.protobuf.Timestamp"))


def test_say(shim):
    [reply] = json_stream(ok(grpcurl(shim, f"{ECHO}/Say", data={"message": "hello"})))
    assert reply["message"] == "hello"
    # grpcurl prints JSON names (servedBy) when the descriptors carry json_name, as the
    # shim's do; the .proto names otherwise.
    assert reply.get("servedBy", reply.get("served_by")) == "e2e-python"
    assert reply.get("handledAt", reply.get("handled_at", "")).endswith("Z")  # an RFC 3339 time


def test_expand(shim):
    replies = json_stream(ok(grpcurl(shim, f"{ECHO}/Expand", data={"message": "tick", "count": 3})))
    assert [r["message"] for r in replies] == ["tick"] * 3
    assert [r.get("index", 0) for r in replies] == [0, 1, 2]  # proto3 JSON leaves out index 0


def test_collect(shim):
    data = " ".join(json.dumps({"message": m}) for m in ["a", "b", "c"])
    [reply] = json_stream(ok(grpcurl(shim, f"{ECHO}/Collect", data=data)))
    assert reply == {"joined": "a b c", "count": 3}


def test_chat(shim):
    data = "\n".join(json.dumps({"message": m}) for m in ["x", "y"])
    replies = json_stream(ok(grpcurl(shim, f"{ECHO}/Chat", data=data)))
    assert [(r["message"], r.get("index", 0)) for r in replies] == [("x", 0), ("y", 1)]


def test_health_check(shim):
    [reply] = json_stream(ok(grpcurl(shim, "grpc.health.v1.Health/Check", data={"service": ""})))
    assert reply == {"status": "SERVING"}
    [reply] = json_stream(ok(grpcurl(shim, "grpc.health.v1.Health/Check", data={"service": ECHO})))
    assert reply == {"status": "SERVING"}


# .proto files the server does not serve: grpcurl then sends the call without asking
# reflection, and the answer comes from the shim itself.
UNKNOWN_PROTO = """
syntax = "proto3";
package %s;
message Empty {}
service %s { rpc %s(Empty) returns (Empty); }
"""


def call_unknown(shim, tmp_path, package, service, method):
    (tmp_path / "unknown.proto").write_text(UNKNOWN_PROTO % (package, service, method))
    return grpcurl(shim, "-import-path", str(tmp_path), "-proto", "unknown.proto",
                   f"{package}.{service}/{method}", data={})


def test_unknown_method_is_unimplemented(shim, tmp_path):
    r = call_unknown(shim, tmp_path, "shimkit.examples.v1", "Echo", "NoSuchMethod")
    assert r.returncode != 0
    assert "Code: Unimplemented" in r.stdout + r.stderr, r.stdout + r.stderr
    # Through reflection, grpcurl itself says the method is not there.
    r = grpcurl(shim, f"{ECHO}/NoSuchMethod", data={})
    assert r.returncode != 0
    assert "NoSuchMethod" in r.stderr


def test_unknown_service_is_unimplemented(shim, tmp_path):
    r = call_unknown(shim, tmp_path, "no.such.v1", "Service", "Call")
    assert r.returncode != 0
    assert "Code: Unimplemented" in r.stdout + r.stderr, r.stdout + r.stderr
    # Reflection says it does not know the symbol.
    r = grpcurl(shim, "describe", "no.such.v1.Service")
    assert r.returncode != 0
    assert "no.such.v1.Service" in r.stderr


def test_error_status_with_message(shim):
    r = grpcurl(shim, f"{ECHO}/Say", data={"fail_code": 5, "fail_message": "no such model"})
    assert r.returncode != 0
    assert "Code: NotFound" in r.stdout + r.stderr
    assert "Message: no such model" in r.stdout + r.stderr


def test_header_echo_shows_header_and_trailer(shim):
    out = ok(grpcurl(shim, "-H", "x-echo-a: 1", "-v", f"{ECHO}/Say", data={"message": "md"}))
    headers = out.split("Response headers received:")[1].split("Response contents:")[0]
    trailers = out.split("Response trailers received:")[1]
    assert "x-echo-a: 1" in headers
    assert "x-echo-a-trailer: 1" in trailers


def test_deadline_exceeded(shim):
    r = grpcurl(shim, "-max-time", "0.5", f"{ECHO}/Say", data={"message": "slow", "delay_ms": 5000})
    assert r.returncode != 0
    assert "DeadlineExceeded" in r.stdout + r.stderr
    # And the shim is fine afterwards.
    [reply] = json_stream(ok(grpcurl(shim, f"{ECHO}/Say", data={"message": "after"})))
    assert reply["message"] == "after"
