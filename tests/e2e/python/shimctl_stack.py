"""Helpers of the shimctl end-to-end tests: a stack file in a temporary
folder, shimctl runs with their output, the state file read back, the
router's ListSets (stubs generated now from admin.proto), and the load
generator (tests/e2e/loadgen/loadgen.py) running in the background.

The shimctl program is $SHIMKIT_SHIMCTL; the shims and the router are the
ones of the same build tree (shimctl finds them itself; $SHIMCTL_BIN_DIR
overrides). Every stack is brought down at the end of its test.

$SHIMKIT_SHIMCTL_ENVIRONMENT=docker runs the same tests in the docker
environment: stack files get `environment: docker` and a stack name of the
test process's own (containers are named after it on a dockerd others use
too), images come from `shimctl build` (build_images) under the tag
$SHIMCTL_IMAGE_TAG (set below when unset), Redis and PostgreSQL listen on the
docker bridge as well, and close() removes what is left of the stack's
containers and volumes. Tests skip, saying "docker: not available", only when
dockerd does not answer."""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
LOADGEN = os.path.join(ROOT, "tests", "e2e", "loadgen", "loadgen.py")
REDIS_SH = os.path.join(ROOT, "scripts", "services", "redis.sh")
POSTGRES_SH = os.path.join(ROOT, "scripts", "services", "postgres.sh")

ENVIRONMENT = os.environ.get("SHIMKIT_SHIMCTL_ENVIRONMENT") or "process"
DOCKER = ENVIRONMENT == "docker"
if DOCKER:
    # shimctl build and up (the supervisor) use one tag; a sanitizer build's images carry its own.
    os.environ.setdefault("SHIMCTL_IMAGE_TAG",
                          "e2estate-san" if os.environ.get("SHIMKIT_SANITIZED") == "1" else "e2estate")


def docker_ok():
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def skip_without_docker():
    """A pytest mark: skip, saying why, when the docker environment is asked for and dockerd does not answer."""
    import pytest

    return pytest.mark.skipif(DOCKER and not docker_ok(), reason="docker: not available (dockerd does not answer "
                              "'docker info'; scripts/services/docker.sh start)")


def docker_containers(stack_name):
    """{name: inspect dict} of the stack's containers (running or not)."""
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.shimkit.stack={stack_name}"],
                         capture_output=True, text=True, timeout=30, check=True).stdout.split()
    if not ids:
        return {}
    info = json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, timeout=30,
                                     check=True).stdout)
    return {c["Name"].lstrip("/"): c for c in info}


def build_images(folder, *services):
    """docker environment: `shimctl build SERVICE...` (every implementation) under $SHIMCTL_IMAGE_TAG."""
    if not DOCKER:
        return
    os.makedirs(folder, exist_ok=True)
    text = "stack: images\nrouter:\n  listen: 127.0.0.1:1\nservices:\n"
    text += "".join(f"  {s}:\n    implementation: {impl}\n" for s, impl in services)
    stack = Stack(folder, text, name="build.yaml")
    r = stack.run("build", *(s for s, _ in services), timeout=300)
    print(r.stdout)


def shimctl_program():
    p = os.environ.get("SHIMKIT_SHIMCTL")
    if not p:
        raise RuntimeError("SHIMKIT_SHIMCTL is not set: point it at build/runtime/shimctl/shimctl")
    return p


def free_port(span=4):
    """A port P such that P .. P+span-1 are free now, below the kernel's
    ephemeral range: a port given to shimctl is bound a little later, and a
    port from that range could meanwhile go to any process binding port 0
    (every shim the tests start does). span covers the replica ports a stack
    numbers from its service port."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low - span)
        if all(_bindable(port + k) for k in range(span)):
            return port
    raise RuntimeError("no free run of loopback ports below the ephemeral range")


def _bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


_admin = None


def admin_stubs():
    """(admin_pb2, admin_pb2_grpc) generated from proto/shimkit/router/v1/admin.proto."""
    global _admin
    if _admin is None:
        from grpc_tools import protoc
        import importlib

        out = tempfile.mkdtemp(prefix="shimctl-admin-stubs-")
        proto = os.path.join(ROOT, "proto")
        rc = protoc.main(["protoc", f"-I{proto}", f"--python_out={out}", f"--grpc_python_out={out}",
                          os.path.join(proto, "shimkit", "router", "v1", "admin.proto")])
        assert rc == 0
        sys.path.insert(0, out)
        _admin = (importlib.import_module("shimkit.router.v1.admin_pb2"),
                  importlib.import_module("shimkit.router.v1.admin_pb2_grpc"))
    return _admin


class Stack:
    """A stack file of a test and the shimctl commands on it."""

    def __init__(self, folder, text, name="stack.yaml"):
        # $SHIMKIT_SHIMCTL_ENVIRONMENT runs the same tests in another environment (docker).
        env = os.environ.get("SHIMKIT_SHIMCTL_ENVIRONMENT")
        if env and name == "stack.yaml" and "\nenvironment:" not in text and text.startswith("stack:"):
            first, rest = text.split("\n", 1)
            if env == "docker":  # container names start with the stack's name, on a shared dockerd
                first = f"{first.rstrip()}-{os.getpid()}"
            text = f"{first}\nenvironment: {env}\n{rest}"
        self.docker = "\nenvironment: docker" in text
        self.folder = str(folder)
        self.path = os.path.join(self.folder, name)
        with open(self.path, "w") as f:
            f.write(text)
        self.name = None
        for line in text.splitlines():
            if line.startswith("stack:"):
                self.name = line.split(":", 1)[1].strip()
        self.state_dir = os.path.join(self.folder, ".shimctl", self.name or "")
        self.router = None
        self.loads = []

    def run(self, *args, check=True, timeout=150, env=None):
        """shimctl -f stack.yaml ARGS; env: variables added to the environment."""
        r = subprocess.run([shimctl_program(), "-f", self.path, *args], capture_output=True, text=True,
                           timeout=timeout, cwd=self.folder, env={**os.environ, **(env or {})})
        if check:
            assert r.returncode == 0, f"shimctl {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        return r

    def up(self, *args):
        r = self.run("up", *args)
        for line in r.stdout.splitlines():
            if "clients call " in line:
                self.router = line.rsplit("clients call ", 1)[1].strip()
        assert self.router, r.stdout
        return r

    def down(self):
        return self.run("down", check=False)

    # -- the state file ------------------------------------------------------
    def state(self):
        """{"router": {...}, "sets": {name: {..., "replicas": [{index, port, id, restarts, addr}]}}}: addr is
        "unix:PATH" for a replica on a unix socket (replica_sockets: unix), else "127.0.0.1:PORT"."""
        out = {"router": None, "sets": {}}
        cur = None
        with open(os.path.join(self.state_dir, "state")) as f:
            for line in f:
                fl = [x if x != "-" else "" for x in line.split()]
                if fl[0] == "router":
                    out["router"] = {"listen": fl[2], "id": fl[4], "restarts": int(fl[5])}
                elif fl[0] == "set":
                    cur = {"name": fl[1], "kind": fl[2], "impl": fl[3], "weight": int(fl[8]),
                           "want": int(fl[10]), "retiring": fl[11] == "1", "replicas": []}
                    out["sets"][fl[1]] = cur
                elif fl[0] == "replica":
                    addr = fl[7] if len(fl) > 7 and fl[7] else f"127.0.0.1:{fl[2]}"
                    cur["replicas"].append({"index": int(fl[1]), "port": int(fl[2]), "id": fl[3],
                                            "restarts": int(fl[4]), "addr": addr})
        return out

    def pids(self, set_name):
        return [int(r["id"].split("@")[0]) for r in self.state()["sets"][set_name]["replicas"] if r["id"]]

    def replica_ids(self, set_name):
        """The replicas' ids: "PID@START" of processes, container names in docker."""
        return [r["id"] for r in self.state()["sets"][set_name]["replicas"] if r["id"]]

    def replica_exists(self, replica_id):
        """The process is alive / the container is still there (running or not)."""
        if self.docker:
            return subprocess.run(["docker", "inspect", "-f", "{{.Id}}", replica_id], capture_output=True,
                                  timeout=30).returncode == 0
        return pid_alive(int(replica_id.split("@")[0]))

    def router_pid(self):
        return int(self.state()["router"]["id"].split("@")[0])

    def supervisor_pid(self):
        with open(os.path.join(self.state_dir, "supervisor.pid")) as f:
            return int(f.read())

    def all_pids(self):
        if self.docker:
            return []  # the containers' processes are not shimctl's children
        st = self.state()
        pids = [int(st["router"]["id"].split("@")[0])] if st["router"]["id"] else []
        for s in st["sets"].values():
            pids += [int(r["id"].split("@")[0]) for r in s["replicas"] if r["id"]]
        return pids

    # -- the router ------------------------------------------------------------
    def list_sets(self):
        pb2, pb2_grpc = admin_stubs()
        with grpc.insecure_channel(self.router) as ch:
            return pb2_grpc.RouterAdminStub(ch).ListSets(pb2.ListSetsRequest(), timeout=10, wait_for_ready=True)

    def calls(self, set_name=None):
        """Calls the router forwarded to the replicas (of the set set_name only, if given), from ListSets."""
        return sum(b.calls for s in self.list_sets().sets for b in s.backends
                   if set_name is None or s.set.name == set_name)

    def wait_for(self, what, cond, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    # -- load --------------------------------------------------------------------
    def start_load(self, mode, rate=50, duration=30, count=100000, acked=None):
        ready = os.path.join(self.folder, f"load-{len(self.loads)}.ready")
        args = [sys.executable, LOADGEN, "--target", self.router, "--mode", mode, "--rate", str(rate),
                "--duration", str(duration), "--count", str(count), "--ready-file", ready]
        if acked:
            args += ["--acked", acked]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.loads.append(p)
        self.wait_for("the first successful call of the load generator",
                      lambda: os.path.exists(ready) or p.poll() is not None, timeout=60)
        assert p.poll() is None, f"loadgen exited early: {p.stderr.read()}"
        return p

    @staticmethod
    def stop_load(p, timeout=60):
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, f"loadgen failed:\n{err}"
        result = json.loads(out.strip().splitlines()[-1])
        assert result["unfinished"] == 0, f"calls still running when the load stopped: {result}"
        return result

    @staticmethod
    def finish_load(p, timeout=90):
        """Waits for a load started with a count to end by itself."""
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, f"loadgen failed:\n{err}"
        return json.loads(out.strip().splitlines()[-1])

    def close(self):
        for p in self.loads:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        left = []
        if os.path.exists(os.path.join(self.state_dir, "state")):
            pids = []
            try:
                pids = self.all_pids()
            except (OSError, ValueError, IndexError, KeyError):
                pass
            r = self.run("down", "--keep-logs", check=False)
            if r.returncode != 0:
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            reports = self.sanitizer_reports()
            subprocess.run(["rm", "-rf", self.state_dir], check=False)
            if self.docker:
                left = self.remove_docker_leftovers()
            assert r.returncode == 0, f"shimctl down failed:\n{r.stdout}\n{r.stderr}"
            assert not reports, "sanitizer reports in the logs:\n" + "\n".join(reports)
            assert not left, f"shimctl down left containers: {left}"
        elif self.docker:
            self.remove_docker_leftovers()

    def remove_docker_leftovers(self):
        """Removes the containers and volumes of this stack that down left; returns the containers' names."""
        left = list(docker_containers(self.name))
        if left:
            subprocess.run(["docker", "rm", "-f", *left], capture_output=True, timeout=60)
        vols = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"label=io.shimkit.stack={self.name}"],
                              capture_output=True, text=True, timeout=30).stdout.split()
        if vols:
            subprocess.run(["docker", "volume", "rm", "-f", *vols], capture_output=True, timeout=60)
        return left

    def sanitizer_reports(self):
        """Lines of ASan/UBSan/LSan reports in the stack's logs (the ASan build runs everything sanitized)."""
        found = []
        logs = [os.path.join(self.state_dir, "supervisor.log")]
        logdir = os.path.join(self.state_dir, "logs")
        if os.path.isdir(logdir):
            logs += [os.path.join(logdir, f) for f in sorted(os.listdir(logdir))]
        for path in logs:
            try:
                with open(path, errors="replace") as f:
                    for line in f:
                        if "Sanitizer" in line or "runtime error:" in line:
                            found.append(f"{os.path.basename(path)}: {line.rstrip()}")
            except FileNotFoundError:
                pass
        return found


class Redis:
    """Redis of the test's own; in the docker environment it listens on the docker bridge as well."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="shimctl-redis-")
        bridge = ["--docker-bridge"] if DOCKER else []
        self.addr = subprocess.run([REDIS_SH, "start", self.dir, *bridge], check=True, capture_output=True,
                                   text=True, timeout=60).stdout.strip()

    def close(self):
        subprocess.run([REDIS_SH, "stop", self.dir], check=False, capture_output=True, timeout=60)
        subprocess.run(["rm", "-rf", self.dir], check=False)


class Postgres:
    """PostgreSQL of the test's own; in the docker environment it listens on the docker bridge as well."""

    def __init__(self):
        # Not under pytest's 0700 tmp tree: the server runs as the postgres user.
        self.dir = tempfile.mkdtemp(prefix="shimctl-pg-")
        os.chmod(self.dir, 0o755)
        bridge = ["--docker-bridge"] if DOCKER else []
        self.dsn = subprocess.run([POSTGRES_SH, "start", self.dir, *bridge], check=True, capture_output=True,
                                  text=True, timeout=120).stdout.strip()
        name = f"shimctl_{os.getpid()}"
        subprocess.run(["psql", self.dsn, "-q", "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}"],
                       check=True, capture_output=True, timeout=60)
        self.db_dsn = self.dsn.replace("dbname=postgres", f"dbname={name}")
        port = self.dsn.split("port=", 1)[1].split()[0]
        self.db_uri = f"postgresql://postgres@127.0.0.1:{port}/{name}"  # the same database as a libpq URI

    def close(self):
        subprocess.run([POSTGRES_SH, "stop", self.dir], check=False, capture_output=True, timeout=120)
        subprocess.run(["rm", "-rf", self.dir], check=False)


_ml = None


def missing_feature_rows(target, keys, view="loadgen"):
    """The keys of a load generator's rows ("...-N", whose one feature holds N) that the FeatureStore at
    target does not return with that value: [] when every acknowledged write is there."""
    import importlib

    ml_stubs()
    pb = importlib.import_module("ml.v1.feature_store_pb2")
    pbg = importlib.import_module("ml.v1.feature_store_pb2_grpc")
    with grpc.insecure_channel(target) as ch:
        stub = pbg.FeatureStoreStub(ch)
        missing = []
        for i in range(0, len(keys), 200):
            part = keys[i:i + 200]
            r = stub.GetOnlineFeatures(pb.GetOnlineFeaturesRequest(view=view, entity_keys=part), timeout=30,
                                       wait_for_ready=True)
            for k, v in zip(part, r.vectors):
                if v.statuses[0] != pb.VALUE_STATUS_PRESENT or v.values[0].int64_value != int(k.rsplit("-", 1)[1]):
                    missing.append(k)
    return missing


def ml_stubs():
    """Generates the proto/ml/v1 stubs (importable as ml.v1.*_pb2) once."""
    global _ml
    if _ml is None:
        from grpc_tools import protoc
        import grpc_tools

        out = tempfile.mkdtemp(prefix="shimctl-ml-stubs-")
        proto = os.path.join(ROOT, "proto")
        wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
        files = [os.path.join(proto, "ml", "v1", f) for f in ("common.proto", "feature_store.proto",
                                                              "model_repository.proto")]
        rc = protoc.main(["protoc", f"-I{proto}", f"-I{wkt}", f"--python_out={out}", f"--grpc_python_out={out}",
                          *files])
        assert rc == 0
        sys.path.insert(0, out)
        _ml = out
    return _ml
