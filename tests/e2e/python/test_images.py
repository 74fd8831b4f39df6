"""e2e.images: shimctl's three-layer images and its docker environment, on the real Docker Engine.

Builds shimkit/echo-builtin and shimkit/feature_store-sqlite from the freshly built shims
(runtime/shimctl/image.c through shimctl_image_tool), then checks:
  - docker history shows the three COPY layers, in build order, and docker save's layer
    tars hold what each layer is for (runtime libraries + loader / native libraries + /data /
    the shim program + its config); layer 1 is the same layer in both images;
  - docker image inspect's size is at most 40 MB (not asserted for sanitizer builds, whose
    runtimes are part of the closure);
  - a container of each runs, published on 127.0.0.1 only, and answers grpc.health.v1 and one
    RPC through grpcurl; feature_store's data in /data survives a SIGKILL of the shim (the
    restart policy brings it back) because the docker environment (env_docker.c) keeps it
    in a volume; docker stop drains the shim as PID 1 and it exits 0; when the environment's stop
    removes the container, the output of both runs is kept in the replica's log file, between
    a start and an end line saying how it ended and that docker restarted it once.
Skips, saying why, only when dockerd does not answer (scripts/services/docker.sh starts it).
"""
import io
import json
import os
import signal
import subprocess
import tarfile
import time

import pytest

from shimctl_stack import free_port  # a port below the ephemeral range

TOOL = os.environ.get("SHIMKIT_IMAGE_TOOL", "")
ENV_TOOL = os.environ.get("SHIMKIT_ENV_TOOL", "")
GRPCURL = os.environ.get("SHIMKIT_GRPCURL", "")
ECHO = os.environ.get("SHIMKIT_ECHO_SHIM", "")
FS = os.environ.get("SHIMKIT_FEATURE_STORE_SHIM", "")
SANITIZED = os.environ.get("SHIMKIT_SANITIZED", "") == "1"
TAG = "e2e"
MAX_BYTES = 40 * 1000 * 1000
STACK = f"e2e{os.getpid()}"


def docker(*args, check=True, timeout=120):
    r = subprocess.run(["docker", *args], capture_output=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return r


def docker_ok():
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


pytestmark = pytest.mark.skipif(not docker_ok(), reason="docker: not available (dockerd does not answer "
                                "'docker info'; scripts/services/docker.sh start)")


def grpcurl(port, method, data=None, timeout=10):
    args = [GRPCURL, "-plaintext", "-max-time", str(timeout)]
    if data is not None:
        args += ["-d", json.dumps(data)]
    args += [f"127.0.0.1:{port}", method]
    r = subprocess.run(args, capture_output=True, timeout=timeout + 5)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def wait_serving(port, tries=100):
    """Health Check until SERVING; bounded (tries x 0.1 s plus each call's own time)."""
    out = ""
    for _ in range(tries):
        rc, out = grpcurl(port, "grpc.health.v1.Health/Check", timeout=3)
        if rc == 0 and "SERVING" in out:
            return
        time.sleep(0.1)
    raise AssertionError(f"port {port} never SERVING: {out}")


def build(service, impl, program):
    assert TOOL and os.access(TOOL, os.X_OK), "SHIMKIT_IMAGE_TOOL not set (run through ctest)"
    r = subprocess.run([TOOL, "build", service, impl, program, TAG], capture_output=True, timeout=300)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert r.returncode == 0, out
    print(out)
    return f"shimkit/{service}-{impl}:{TAG}"


@pytest.fixture(scope="module")
def images():
    refs = {"echo": build("echo", "builtin", ECHO), "fs": build("feature_store", "sqlite", FS)}
    yield refs


def copy_layers(ref):
    """History lines of the COPY instructions, oldest first (docker history lists newest first)."""
    out = docker("history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", ref).stdout
    lines = [l.split("\t", 1) for l in out.decode().splitlines() if "\t" in l]
    return [(int(size), by) for size, by in reversed(lines) if "COPY" in by]


def saved_layers(ref):
    """The member names of each layer tar of ref, in order (docker save)."""
    raw = docker("save", ref, timeout=180).stdout
    outer = tarfile.open(fileobj=io.BytesIO(raw))
    manifest = json.load(outer.extractfile("manifest.json"))
    layers = []
    for path in manifest[0]["Layers"]:
        inner = tarfile.open(fileobj=io.BytesIO(outer.extractfile(path).read()))
        layers.append({m.name.rstrip("/"): m for m in inner.getmembers()})
    return layers


def names_matching(layer, prefix):
    return [n for n in layer if n.startswith(prefix)]


def test_history_has_three_copy_layers_in_order(images):
    for ref in images.values():
        layers = copy_layers(ref)
        assert len(layers) == 3, f"{ref}: want 3 COPY layers, history has {layers}"
        assert all(by.count("COPY") == 1 for _, by in layers)
        runtime, native, program = (size for size, _ in layers)
        # The shared runtime (gRPC core, OpenSSL, libstdc++, libc) dwarfs the program.
        assert runtime > native and runtime > program, layers
        subprocess.run([TOOL, "layers", ref], check=True)


def test_layer_contents(images):
    for key, ref in images.items():
        l1, l2, l3 = saved_layers(ref)
        for wanted in ("lib/x86_64-linux-gnu/libgrpc.so.", "lib/x86_64-linux-gnu/libc.so.6",
                       "lib/x86_64-linux-gnu/libshimkit.so.0", "lib/x86_64-linux-gnu/libprotobuf-c.so.1",
                       "lib64/ld-linux-x86-64.so.2", "etc/passwd", "etc/group"):
            assert names_matching(l1, wanted), f"{ref} layer 1 lacks {wanted}"
        assert l1["tmp"].isdir() and (l1["tmp"].mode & 0o1777) == 0o1777, "layer 1 /tmp is not 1777"
        assert not names_matching(l1, "usr/bin/"), "layer 1 holds a program"
        # Sonames are real files (copies of what the links point to), not dangling links.
        for name, member in l1.items():
            if ".so" in name:
                assert member.isfile(), f"{ref} layer 1: {name} is not a regular file"
        assert "data" in l2 and l2["data"].isdir(), f"{ref} layer 2 lacks /data"
        assert not names_matching(l2, "lib/x86_64-linux-gnu/libgrpc"), "layer 2 repeats the runtime"
        program = "echo_shim" if key == "echo" else "feature_store_shim"
        assert f"usr/bin/{program}" in l3 and "etc/shimkit/shim.conf" in l3, sorted(l3)
        assert not names_matching(l3, "lib"), "layer 3 holds libraries"
        if key == "fs":
            assert names_matching(l2, "lib/x86_64-linux-gnu/libsqlite3.so.0"), sorted(l2)
            assert names_matching(l2, "lib/x86_64-linux-gnu/libhiredis.so"), sorted(l2)


def test_runtime_layer_is_shared(images):
    first = [json.loads(docker("image", "inspect", ref).stdout)[0]["RootFS"]["Layers"][0] for ref in images.values()]
    assert first[0] == first[1], "layer 1 differs between the echo and feature_store images"


def test_image_size(images):
    for ref in images.values():
        size = int(docker("image", "inspect", "-f", "{{.Size}}", ref).stdout)
        print(f"{ref}: {size / 1e6:.1f} MB")
        if SANITIZED:
            continue  # ASan/UBSan runtimes are in the closure; the limit is for release images
        assert size <= MAX_BYTES, f"{ref} is {size / 1e6:.1f} MB, more than 40 MB"


def env_tool(*args, check=True, log=None):
    """log: the replica's log file (start)."""
    assert ENV_TOOL and os.access(ENV_TOOL, os.X_OK), "SHIMKIT_ENV_TOOL not set (run through ctest)"
    env = {**os.environ, "SHIMCTL_ENV_TOOL_LOG": log} if log else None
    r = subprocess.run([ENV_TOOL, *args], capture_output=True, timeout=120, env=env)
    out = r.stdout.decode(errors="replace").strip()
    if check:
        assert r.returncode == 0, out + r.stderr.decode(errors="replace")
    return out


def test_echo_container_answers_on_loopback(images):
    port = free_port()
    cid = env_tool("start", "docker", STACK, "echo", "echo-builtin", "0", images["echo"], str(port), "2000",
                   "--name", "e2e-docker")
    try:
        assert cid == f"shimkit-{STACK}-echo-builtin-0"
        ports = json.loads(docker("inspect", "-f", "{{json .HostConfig.PortBindings}}", cid).stdout)
        assert ports == {f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        assert docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", cid).stdout.strip() == b"unless-stopped"
        assert env_tool("alive", "docker", cid) == "1"
        wait_serving(port)
        rc, out = grpcurl(port, "shimkit.examples.v1.Echo/Say", {"message": "through docker"})
        assert rc == 0 and "through docker" in out and "e2e-docker" in out, out
    finally:
        env_tool("stop", "docker", cid, "2000")
    assert env_tool("alive", "docker", cid) == "0"


def test_feature_store_container_keeps_data_and_drains(images, tmp_path):
    port = free_port()
    log = tmp_path / "feature_store-sqlite-0.log"
    cid = env_tool("start", "docker", STACK, "feature_store", "feature_store-sqlite", "0", images["fs"], str(port),
                   "3000", log=str(log))
    volume = f"{cid}-data"
    try:
        wait_serving(port)
        view = {"view": {"name": "e2e_view", "entity_key": "id",
                         "features": [{"name": "x", "type": "FEATURE_TYPE_DOUBLE"}]}}
        rc, out = grpcurl(port, "shimkit.ml.v1.FeatureStore/CreateFeatureView", view)
        assert rc == 0, out
        # SIGKILL the shim (PID 1 of the container) from the host: the restart policy restarts
        # it, and the view is still there (the SQLite file is in the /data volume).
        pid = int(docker("inspect", "-f", "{{.State.Pid}}", cid).stdout)
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            info = docker("inspect", "-f", "{{.RestartCount}} {{.State.Running}}", cid).stdout.decode().split()
            if int(info[0]) >= 1 and info[1] == "true":
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"container not restarted after SIGKILL: {info}")
        wait_serving(port)
        rc, out = grpcurl(port, "shimkit.ml.v1.FeatureStore/ListFeatureViews", {})
        assert rc == 0 and "e2e_view" in out, out
        # docker stop sends SIGTERM to PID 1: the shim drains and exits 0.
        docker("stop", "-t", "10", cid)
        assert docker("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == b"0"
        logs = env_tool("logs", "docker", cid)
        assert "draining" in logs and "stopped" in logs, logs[-2000:]
    finally:
        env_tool("stop", "docker", cid, "3000")
        docker("volume", "rm", "-f", volume, check=False)
    assert env_tool("alive", "docker", cid) == "0"
    # Its output outlives it: both runs (before and after the SIGKILL), framed once.
    kept = log.read_text(errors="replace")
    assert kept.count(f"=== shimctl: container {cid} (") == 2, kept
    assert kept.count("feature_store_shim listening on 0.0.0.0:") == 2 and "draining" in kept, kept
    assert "ended" in kept.splitlines()[-1] and "exit code 0; docker's restart policy restarted it 1 time" in kept, kept
