"""Helpers of the ModelRepository contract suite: the shim process, PostgreSQL
clusters (scripts/services/postgres.sh) and client calls used by every test.

The shim comes from $SHIMKIT_MODEL_REPOSITORY_SHIM, run by the contract
suites' shared process helper (tests/contract/common/contractkit.py).
"""
import hashlib
import os
import subprocess
import sys
import tempfile

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "common"))

from contractkit import ROOT, program  # noqa: E402
import contractkit  # noqa: E402

POSTGRES_SH = os.path.join(ROOT, "scripts", "services", "postgres.sh")


class Shim(contractkit.Shim):
    """One model_repository_shim child process, started, with a ready channel."""

    def __init__(self, *args):
        super().__init__(*args, command=program("SHIMKIT_MODEL_REPOSITORY_SHIM"))
        self.start()
        self.channel = grpc.insecure_channel(self.target)
        grpc.channel_ready_future(self.channel).result(timeout=20)

    def kill(self):
        """Closes the channel, then SIGTERM (SIGKILL if it hangs)."""
        self.channel.close()
        self.stop()


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
