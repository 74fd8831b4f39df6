"""Shared fixtures of the Python end-to-end tests: generated stubs, shims, certificates, a Redis server."""
import importlib
import os
import subprocess
import sys

import grpc
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PROTO_DIR = os.path.join(ROOT, "proto", "examples")
sys.path.insert(0, HERE)

from shimproc import Shim  # noqa: E402


@pytest.fixture(scope="session")
def stubs(tmp_path_factory):
    """echo_pb2 and echo_pb2_grpc, generated now from proto/examples/echo.proto."""
    from grpc_tools import protoc
    import grpc_tools

    out = tmp_path_factory.mktemp("stubs")
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{PROTO_DIR}", f"-I{wkt}", f"--python_out={out}",
                      f"--grpc_python_out={out}", os.path.join(PROTO_DIR, "echo.proto")])
    assert rc == 0, "grpc_tools.protoc failed on proto/examples/echo.proto"
    sys.path.insert(0, str(out))
    pb2 = importlib.import_module("echo_pb2")
    pb2_grpc = importlib.import_module("echo_pb2_grpc")
    return pb2, pb2_grpc


@pytest.fixture(scope="session")
def pb2(stubs):
    return stubs[0]


@pytest.fixture
def new_shim():
    """Factory: new_shim(*args) starts a shim of the test's own; all are killed at the end."""
    started = []

    def make(*args):
        s = Shim(*args).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.kill()


@pytest.fixture(scope="module")
def shim():
    """One shim for a whole test module (the calls that don't stop it)."""
    s = Shim("--name", "e2e-python").start()
    yield s
    rc = s.stop()
    assert rc == 0, f"shim exited with {rc} on SIGTERM:\n{s.log()}"


@pytest.fixture(scope="module")
def channel(shim):
    ch = grpc.insecure_channel(shim.target)
    grpc.channel_ready_future(ch).result(timeout=20)
    yield ch
    ch.close()


@pytest.fixture
def stub(stubs, channel):
    return stubs[1].EchoStub(channel)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made now."""
    d = tmp_path_factory.mktemp("certs")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=shimkit e2e CA",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                  "extendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
            "-out", "server.csr", cwd=d)
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "server.ext", "-out", "server.pem", cwd=d)
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=shimkit e2e client", "-keyout", "client.key",
            "-out", "client.csr", cwd=d)
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "client.ext", "-out", "client.pem", cwd=d)
    # A second CA the server does not trust, with a client certificate of its own.
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=rogue CA",
            "-keyout", "rogue-ca.key", "-out", "rogue-ca.pem", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=rogue client", "-keyout", "rogue.key",
            "-out", "rogue.csr", cwd=d)
    openssl("x509", "-req", "-in", "rogue.csr", "-CA", "rogue-ca.pem", "-CAkey", "rogue-ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "client.ext", "-out", "rogue.pem", cwd=d)
    return d


@pytest.fixture
def redis():
    """A Redis server of the test's own (shimctl_stack.Redis), stopped after the test."""
    from shimctl_stack import Redis

    r = Redis()
    yield r
    r.close()
