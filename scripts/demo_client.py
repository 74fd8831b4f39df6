#!/usr/bin/env python3
"""The demo's Python client: generates stubs from proto/examples/echo.proto with
grpc_tools.protoc (nothing generated is kept) and makes one call of each kind.

    .venv/bin/python scripts/demo_client.py 127.0.0.1:50051
"""
import importlib
import os
import sys
import tempfile

import grpc
import grpc_tools
from grpc_tools import protoc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PROTO_DIR = os.path.join(ROOT, "proto", "examples")


def main(target):
    with tempfile.TemporaryDirectory(prefix="shimkit-demo-") as out:
        wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        if protoc.main(["protoc", f"-I{PROTO_DIR}", f"-I{wkt}", f"--python_out={out}",
                        f"--grpc_python_out={out}", os.path.join(PROTO_DIR, "echo.proto")]) != 0:
            sys.exit("demo_client: grpc_tools.protoc failed on echo.proto")
        sys.path.insert(0, out)
        pb2 = importlib.import_module("echo_pb2")
        pb2_grpc = importlib.import_module("echo_pb2_grpc")

    with grpc.insecure_channel(target) as ch:
        stub = pb2_grpc.EchoStub(ch)
        reply, call = stub.Say.with_call(pb2.EchoRequest(message="hello from Python"),
                                         metadata=[("x-echo-client", "python")], timeout=10)
        print(f"Say     -> {reply.message!r} index={reply.index} served_by={reply.served_by!r} "
              f"handled_at={reply.handled_at.ToJsonString()}")
        print(f"           headers  {[(k, v) for k, v in call.initial_metadata() if k.startswith('x-echo')]}")
        print(f"           trailers {[(k, v) for k, v in call.trailing_metadata() if k.startswith('x-echo')]}")
        for r in stub.Expand(pb2.ExpandRequest(message="tick", count=3, interval_ms=100), timeout=10):
            print(f"Expand  -> {r.message!r} index={r.index}")
        c = stub.Collect(iter(pb2.EchoRequest(message=w) for w in "one two three".split()), timeout=10)
        print(f"Collect -> joined={c.joined!r} count={c.count}")
        for r in stub.Chat(iter(pb2.EchoRequest(message=w) for w in ["ping", "pong"]), timeout=10):
            print(f"Chat    -> {r.message!r} index={r.index}")
        try:
            stub.Say(pb2.EchoRequest(message="x", fail_code=5, fail_message="no such model"), timeout=10)
        except grpc.RpcError as e:
            print(f"Say(fail_code=5) -> {e.code().name}: {e.details()}")
        try:
            stub.Say(pb2.EchoRequest(message="slow", delay_ms=3000), timeout=0.3)
        except grpc.RpcError as e:
            print(f"Say(delay_ms=3000, deadline 300 ms) -> {e.code().name}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051")
