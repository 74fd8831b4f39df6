#!/usr/bin/env python3
"""The Echo service of proto/examples/echo.proto on Python grpcio.

A peer for bench/ (the same service as echo_shim, in Python) and a stand-in
for echo_shim while developing the end-to-end tests: it takes the same flags,
prints the same "listening on HOST:PORT" line on stderr, serves health and
reflection, echoes x-echo-* metadata as headers and as "<key>-trailer"
trailers, honours delay_ms and fail_code, and drains on SIGTERM.

Stubs are generated at start-up with grpc_tools.protoc into a temporary folder.
"""
import argparse
import importlib
import os
import signal
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import timestamp_pb2  # noqa: F401  (echo_pb2 imports it)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PROTO_DIR = os.path.join(ROOT, "proto", "examples")


def generate_stubs(out_dir):
    """Runs grpc_tools.protoc on echo.proto; returns (echo_pb2, echo_pb2_grpc)."""
    from grpc_tools import protoc
    import grpc_tools

    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main([
        "protoc", f"-I{PROTO_DIR}", f"-I{wkt}",
        f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
        os.path.join(PROTO_DIR, "echo.proto"),
    ])
    if rc != 0:
        raise RuntimeError(f"grpc_tools.protoc failed on echo.proto (exit {rc})")
    sys.path.insert(0, out_dir)
    return importlib.import_module("echo_pb2"), importlib.import_module("echo_pb2_grpc")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:50051")
    ap.add_argument("--name", default="echo-python")
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--drain-grace-ms", type=int, default=10000)
    ap.add_argument("--max-message-bytes", type=int, default=4 * 1024 * 1024)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca")
    ap.add_argument("--require-client-cert", action="store_true")
    ap.add_argument("--no-access-log", action="store_true")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--no-health-reflection", action="store_true",
                    help="serve only Echo (the bench peer does not need the rest)")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="echo-py-stubs-")
    pb2, pb2_grpc = generate_stubs(tmp.name)
    name = args.name

    def echo_metadata(context):
        md = [(k, v) for k, v in context.invocation_metadata() if k.startswith("x-echo-")]
        if not md:
            return
        context.send_initial_metadata(md)
        trailers = []
        for k, v in md:
            if k.endswith("-bin"):
                trailers.append((k[:-4] + "-trailer-bin", v))
            else:
                trailers.append((k + "-trailer", v))
        context.set_trailing_metadata(trailers)

    def wait(context, ms):
        end = time.monotonic() + ms / 1000.0
        while True:
            if not context.is_active():
                return False
            left = end - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, 0.01))

    def fail_if_asked(req, context):
        if req.fail_code == 0:
            return
        if req.fail_code > 16:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"fail_code {req.fail_code} is not a gRPC status code (0..16)")
        code = next(c for c in grpc.StatusCode if c.value[0] == req.fail_code)
        context.abort(code, req.fail_message or "failure requested by the client")

    def reply(message, index):
        r = pb2.EchoReply(message=message, index=index, served_by=name)
        r.handled_at.GetCurrentTime()
        return r

    class Echo(pb2_grpc.EchoServicer):
        def Say(self, req, context):
            echo_metadata(context)
            if req.delay_ms and not wait(context, req.delay_ms):
                context.abort(grpc.StatusCode.CANCELLED, f"cancelled during a {req.delay_ms} ms delay")
            fail_if_asked(req, context)
            return reply(req.message, 0)

        def Expand(self, req, context):
            echo_metadata(context)
            for i in range(req.count):
                if i > 0 and req.interval_ms and not wait(context, req.interval_ms):
                    return
                yield reply(req.message, i)

        def Collect(self, request_iterator, context):
            echo_metadata(context)
            msgs = []
            for req in request_iterator:
                fail_if_asked(req, context)
                msgs.append(req.message)
            return pb2.CollectReply(joined=" ".join(msgs), count=len(msgs))

        def Chat(self, request_iterator, context):
            echo_metadata(context)
            for i, req in enumerate(request_iterator):
                if req.delay_ms and not wait(context, req.delay_ms):
                    return
                fail_if_asked(req, context)
                yield reply(req.message, i)

    options = [
        ("grpc.max_receive_message_length", args.max_message_bytes),
        ("grpc.max_send_message_length", args.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers), options=options)
    pb2_grpc.add_EchoServicer_to_server(Echo(), server)

    health = None
    if not args.no_health_reflection:
        from grpc_health.v1 import health as health_mod, health_pb2, health_pb2_grpc
        from grpc_reflection.v1alpha import reflection

        health = health_mod.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        for svc in ("", "shimkit.examples.v1.Echo"):
            health.set(svc, health_pb2.HealthCheckResponse.SERVING)
        names = ("shimkit.examples.v1.Echo", health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                 reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, server)

    if args.tls_cert:
        with open(args.tls_key, "rb") as f:
            key = f.read()
        with open(args.tls_cert, "rb") as f:
            cert = f.read()
        ca = None
        if args.tls_client_ca:
            with open(args.tls_client_ca, "rb") as f:
                ca = f.read()
        creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca,
                                            require_client_auth=args.require_client_cert)
        port = server.add_secure_port(args.listen, creds)
    else:
        port = server.add_insecure_port(args.listen)
    if port == 0:
        print(f"echo_server.py: cannot listen on {args.listen}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    host = args.listen.rsplit(":", 1)[0]
    print(f"echo_server.py: listening on {host}:{port} (name {name}, {args.workers} workers)",
          file=sys.stderr, flush=True)

    stop.wait()
    print("echo_server.py: draining", file=sys.stderr, flush=True)
    if health is not None:
        health.enter_graceful_shutdown()
    server.stop(args.drain_grace_ms / 1000.0).wait()
    print("echo_server.py: stopped", file=sys.stderr, flush=True)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
