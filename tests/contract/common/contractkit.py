"""What every contract suite's conftest (tests/contract/*/conftest.py) shares:
where the repository is, which program a suite drives, stubs generated now
from a .proto with grpcio-tools, a running shim with a channel and a stub,
and a loopback address nothing listens on.

A conftest makes this folder importable and imports it:

    sys.path.insert(0, os.path.join(HERE, "..", "common"))
    from contractkit import ROOT, Service, generate_stubs, program  # noqa: E402

The shim processes themselves are shimproc.Shim (tests/e2e/python/shimproc.py,
put on sys.path here): started with --listen 127.0.0.1:0, ready once they
print "listening on HOST:PORT", stopped with SIGTERM.
"""
import importlib
import os
import socket
import sys

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PROTO_ROOT = os.path.join(ROOT, "proto")
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e", "python"))

from shimproc import Shim  # noqa: E402,F401  (re-exported for the suites)


def program(var):
    """argv of the program named by environment variable var (ctest sets it, see each suite's CMakeLists.txt)."""
    path = os.environ.get(var)
    if not path:
        raise RuntimeError(f"{var} is not set: ctest sets it (see the suite's CMakeLists.txt), "
                           "or point it at the program under build/services/")
    return [path]


def generate_stubs(out_dir, files, modules, proto_root=PROTO_ROOT, well_known=True):
    """Runs grpc_tools.protoc on files (paths under proto_root) into out_dir, puts out_dir on
    sys.path and returns the named modules, imported, in order."""
    from grpc_tools import protoc
    import grpc_tools

    includes = [f"-I{proto_root}"]
    if well_known:
        includes.append(f"-I{os.path.join(os.path.dirname(grpc_tools.__file__), '_proto')}")
    paths = [f if os.path.isabs(f) else os.path.join(proto_root, f) for f in files]
    rc = protoc.main(["protoc", *includes, f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *paths])
    assert rc == 0, f"grpc_tools.protoc failed on {', '.join(files)}"
    sys.path.insert(0, str(out_dir))
    return [importlib.import_module(m) for m in modules]


class Service:
    """A running shim (shimproc.Shim, started) with a ready channel and stub_class's stub on it."""

    def __init__(self, shim, stub_class):
        self.shim = shim
        self.target = shim.target
        self.channel = grpc.insecure_channel(shim.target)
        grpc.channel_ready_future(self.channel).result(timeout=20)
        self.stub = stub_class(self.channel)

    def close(self):
        """Closes the channel and stops the shim with SIGTERM: it must exit 0 (a clean drain)."""
        self.channel.close()
        rc = self.shim.stop()
        assert rc == 0, f"shim exited with {rc} on SIGTERM:\n{self.shim.log()}"


_HELD_PORTS = []  # bound, never listening: refused to every caller, and no server can take them


def free_address():
    """A loopback address nothing listens on, for as long as the tests run: its
    port stays bound here without listening, so a connection is refused and no
    shim started later (port 0) can be given it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    _HELD_PORTS.append(s)
    return f"127.0.0.1:{s.getsockname()[1]}"
