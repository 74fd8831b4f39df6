"""Helpers of the ModelRepository contract suite: the shim process, PostgreSQL
clusters (scripts/services/postgres.sh) and client calls used by every test.

The shim comes from $SHIMKIT_MODEL_REPOSITORY_SHIM; it is started with
--listen 127.0.0.1:0 and is ready once it prints "listening on HOST:PORT".
"""
import hashlib
import os
import re
import subprocess
import tempfile
import threading
import time

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
POSTGRES_SH = os.path.join(ROOT, "scripts", "services", "postgres.sh")
LISTENING = re.compile(r"listening on (\S+?):(\d+)\b")


def shim_path():
    path = os.environ.get("SHIMKIT_MODEL_REPOSITORY_SHIM")
    if not path:
        raise RuntimeError("SHIMKIT_MODEL_REPOSITORY_SHIM is not set: point it at "
                           "build/services/model_repository/model_repository_shim")
    return path


class Shim:
    """One model_repository_shim child process."""

    def __init__(self, *args):
        self.args = list(args)
        self.lines = []
        self.port = None
        self._ready = threading.Event()
        argv = [shim_path(), "--listen", "127.0.0.1:0", *self.args]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 30
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"shim did not start ({argv}):\n{self.log()}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=20)

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            m = LISTENING.search(line)
            if m and not self._ready.is_set():
                self.port = int(m.group(2))
                self._ready.set()

    def log(self):
        return "\n".join(self.lines)

    def kill(self):
        if getattr(self, "channel", None):
            self.channel.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class Postgres:
    """A throwaway cluster in its own directory, driven by scripts/services/postgres.sh."""

    def __init__(self):
        # Not under pytest's 0700 tmp tree: the server runs as the postgres user.
        self.dir = tempfile.mkdtemp(prefix="shimkit-pg-")
        os.chmod(self.dir, 0o755)
        self._dbs = 0
        self.dsn = self._script("start")

    def _script(self, cmd):
        out = subprocess.run([POSTGRES_SH, cmd, self.dir], check=True, capture_output=True, text=True,
                             timeout=120)
        return out.stdout.strip()

    def start(self):
        self.dsn = self._script("start")

    def stop(self):
        self._script("stop")

    def new_database(self):
        """A fresh empty database; returns its DSN."""
        self._dbs += 1
        name = f"mr_{os.getpid()}_{self._dbs}"
        subprocess.run(["psql", self.dsn, "-q", "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}"],
                       check=True, capture_output=True, timeout=60)
        return self.dsn.replace("dbname=postgres", f"dbname={name}")

    def close(self):
        try:
            self.stop()
        finally:
            subprocess.run(["rm", "-rf", self.dir], check=False)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def upload_requests(pb2, model, data, chunk=7000, **header):
    header.setdefault("sha256", sha256(data))
    header.setdefault("framework", "liblinear")
    yield pb2.UploadVersionRequest(header=pb2.UploadHeader(model_name=model, **header))
    for i in range(0, len(data), chunk):
        yield pb2.UploadVersionRequest(chunk=data[i:i + chunk])


def download(stub, pb2, model, version=None, alias=None, chunk_bytes=0):
    ref = pb2.VersionRef(model_name=model, version=version) if version else \
        pb2.VersionRef(model_name=model, alias=alias)
    meta, data, offset = None, bytearray(), 0
    for i, c in enumerate(stub.DownloadArtifact(pb2.DownloadArtifactRequest(ref=ref, chunk_bytes=chunk_bytes),
                                                timeout=60)):
        assert c.offset == offset
        if i == 0:
            assert c.HasField("version"), "the first chunk carries the version"
            meta = c.version
        else:
            assert not c.HasField("version"), "only the first chunk carries the version"
        if chunk_bytes:
            assert len(c.data) <= chunk_bytes
        data += c.data
        offset += len(c.data)
    return meta, bytes(data)


def export_all(stub, pb2):
    return list(stub.Export(pb2.ExportRequest(), timeout=120))
