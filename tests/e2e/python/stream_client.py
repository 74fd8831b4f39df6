"""A client that streams from the shim until it is killed (test_lifecycle uses it)."""
import os
import queue
import sys

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(target):
    import tempfile
    from grpc_tools import protoc
    import grpc_tools

    here = os.path.dirname(os.path.abspath(__file__))
    proto_dir = os.path.join(here, "..", "..", "..", "proto", "examples")
    out = tempfile.mkdtemp(prefix="stream-client-")
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    assert protoc.main(["protoc", f"-I{proto_dir}", f"-I{wkt}", f"--python_out={out}",
                        f"--grpc_python_out={out}", os.path.join(proto_dir, "echo.proto")]) == 0
    sys.path.insert(0, out)
    import echo_pb2
    import echo_pb2_grpc

    ch = grpc.insecure_channel(target)
    stub = echo_pb2_grpc.EchoStub(ch)
    expand = stub.Expand(echo_pb2.ExpandRequest(message="forever", count=100000, interval_ms=10), timeout=120)
    next(expand)
    outbox = queue.Queue()
    outbox.put(echo_pb2.EchoRequest(message="chat"))
    chat = stub.Chat(iter(outbox.get, None), timeout=120)
    next(chat)
    print("streaming", flush=True)
    for _ in expand:  # until SIGKILL
        pass


if __name__ == "__main__":
    main(sys.argv[1])
