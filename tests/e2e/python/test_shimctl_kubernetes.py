"""e2e.shimctl.kubernetes: shimctl's kubernetes environment against a real API server.

scripts/services/kube-apiserver.sh starts etcd + kube-apiserver on loopback (built from the Go
module proxy into .tools/k8s/bin, with kubectl of the same version) and writes a kubeconfig whose
current context is that server. With KUBECONFIG pointing at a copy of it (namespace of this test's
own) and that kubectl first in PATH:

- shimctl up of a four-service stack with environment: kubernetes applies every Deployment and
  Service; kubectl reads them back from the server: replicas, image, args (--listen on the
  container port, the router's Service for training's --model-repository), gRPC readiness and
  liveness probes on that port, resources, terminationGracePeriodSeconds (drain + 5 s), selectors
  that match the pod labels, a ClusterIP allocated by the server; per set a headless Service
  (clusterIP None) on the same pods; the router's ConfigMap, whose sets file names every set with
  a dns: backend on its headless Service, mounted read-only by the router (--sets-file), its
  SHA-256 on the router's pod template;
- shimctl scale changes one Deployment's replicas and no other (not the router's sets);
- shimctl up after the stack file's implementation changed applies the new set and deletes the old
  one and its headless Service (a swap by redeploy); the router's sets and checksum change with
  it, so its pod template does; shimctl swap itself says it is kubectl's there;
- shimctl down deletes every Deployment, Service and ConfigMap of the stack and its manifests.

No kubelet, controller-manager or scheduler runs: pods are never made, the test checks the API
objects. Skips, saying why, only when the API server cannot be built or started."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from shimctl_stack import ROOT, shimctl_program

KUBE_SH = os.path.join(ROOT, "scripts", "services", "kube-apiserver.sh")
TAG = "e2e"


@pytest.fixture(scope="module")
def cluster():
    """(kubeconfig, bin dir) of a running API server; stopped and its folder removed at the end.
    The start builds the binaries when they are missing (scripts/test.sh builds them first)."""
    d = tempfile.mkdtemp(prefix="shimkit-kube-")

    def stop():
        subprocess.run([KUBE_SH, "stop", d], capture_output=True, timeout=60)
        shutil.rmtree(d, ignore_errors=True)

    try:
        r = subprocess.run([KUBE_SH, "start", d], capture_output=True, text=True, timeout=1500)
    except subprocess.TimeoutExpired:
        stop()
        pytest.skip("kubernetes: API server not available (kube-apiserver.sh start timed out)")
    if r.returncode != 0:
        print(r.stderr)
        stop()
        pytest.skip("kubernetes: API server not available (kube-apiserver.sh start failed: "
                    f"{r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode})")
    yield r.stdout.strip(), os.path.join(ROOT, ".tools", "k8s", "bin")
    stop()


@pytest.fixture
def kube(cluster, tmp_path, monkeypatch):
    """kubectl(*args) -> stdout, in a namespace of this test, with KUBECONFIG and PATH set for shimctl."""
    kubeconfig, bindir = cluster
    ns = f"shimkit-e2e-{os.getpid()}"
    mine = tmp_path / "kubeconfig"
    shutil.copyfile(kubeconfig, mine)
    monkeypatch.setenv("KUBECONFIG", str(mine))
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("SHIMCTL_IMAGE_TAG", TAG)

    def kubectl(*args, check=True):
        r = subprocess.run([os.path.join(bindir, "kubectl"), "--request-timeout=30s", *args], capture_output=True,
                           text=True, timeout=60)
        if check:
            assert r.returncode == 0, f"kubectl {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        return r.stdout

    kubectl("create", "namespace", ns)
    kubectl("config", "set-context", "--current", f"--namespace={ns}")
    yield kubectl
    kubectl("delete", "namespace", ns, "--wait=false", check=False)


def shimctl(stack_file, *args, check=True):
    r = subprocess.run([shimctl_program(), "-f", str(stack_file), *args], capture_output=True, text=True,
                       timeout=180, cwd=os.path.dirname(str(stack_file)))
    if check:
        assert r.returncode == 0, f"shimctl {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def objects(kubectl, stack):
    """{"Deployment": {name: obj}, "Service": {name: obj}, "ConfigMap": {name: obj}} of the stack, read
    from the server."""
    out = json.loads(kubectl("get", "deployments,services,configmaps", "-l", f"app.kubernetes.io/part-of={stack}",
                             "-o", "json"))
    got = {"Deployment": {}, "Service": {}, "ConfigMap": {}}
    for o in out["items"]:
        got[o["kind"]][o["metadata"]["name"]] = o
    return got


STACK = """stack: {name}
environment: kubernetes
router:
  listen: 127.0.0.1:50100
services:
  model_repository:
    implementation: fs
    port: 50120
  feature_store:
    implementation: sqlite
    replicas: 2
    drain_grace_ms: 20000
  training:
    implementation: {training}
    replicas: 3
  model_execution:
    implementation: oip
    port: 50150
"""

# name suffix -> (service, implementation, replicas, port, grace seconds, cpu limit, memory limit);
# grace = the shim's drain (the stack's default 5 s, feature_store's 20 s) + 5 s.
WANT = {
    "model-repository-fs": ("model_repository", "fs", 1, 50120, 10, "1", "512Mi"),
    "feature-store-sqlite": ("feature_store", "sqlite", 2, 50051, 25, "1", "512Mi"),
    "training-xgboost": ("training", "xgboost", 3, 50051, 10, "2", "2Gi"),
    "model-execution-oip": ("model_execution", "oip", 1, 50150, 10, "1", "512Mi"),
}


def check_set(dep, svc, stack, service, impl, replicas, port, grace, cpu, mem):
    name = dep["metadata"]["name"]
    spec = dep["spec"]
    assert spec["replicas"] == replicas, name
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == grace, name
    assert pod["automountServiceAccountToken"] is False
    (c,) = pod["containers"]
    assert c["image"] == f"shimkit/{service}-{impl}:{TAG}", name
    args = c["args"]
    assert args[:2] == ["--listen", f"0.0.0.0:{port}"], args
    # SIGKILL only after the shim's drain: the grace period is its --drain-grace-ms + 5 s.
    assert args[args.index("--drain-grace-ms") + 1] == str((grace - 5) * 1000), args
    assert c["ports"] == [{"name": "grpc", "containerPort": port, "protocol": "TCP"}], c["ports"]
    for probe in ("readinessProbe", "livenessProbe"):
        p = c[probe]
        # The server's defaulting filled in the gRPC service ("") it calls.
        assert p["grpc"] == {"port": port, "service": ""}, (name, probe, p)
        assert "tcpSocket" not in p and "httpGet" not in p
        assert p["successThreshold"] == 1  # defaulted by the API server
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": cpu, "memory": mem}}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    labels = spec["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == stack and labels["app.kubernetes.io/managed-by"] == "shimctl"
    assert labels["app.kubernetes.io/name"] == service and labels["app.kubernetes.io/component"] == impl
    for k, v in spec["selector"]["matchLabels"].items():
        assert labels[k] == v, (name, k)
    # The Service: one port on the container's, selecting exactly this Deployment's pods.
    s = svc["spec"]
    assert s["type"] == "ClusterIP" and s["clusterIP"].startswith("10.96."), s  # allocated by the server
    assert s["ports"][0]["port"] == port and s["ports"][0]["targetPort"] == "grpc", s["ports"]
    assert s["selector"] == spec["selector"]["matchLabels"], (s["selector"], spec["selector"])


def check_headless(dep, hsvc, port):
    """The set's headless Service: no cluster IP, only ready pods, the Deployment's pods on its port."""
    s = hsvc["spec"]
    assert s["clusterIP"] == "None" and s["clusterIPs"] == ["None"], s
    assert not s.get("publishNotReadyAddresses", False), s
    assert s["selector"] == dep["spec"]["selector"]["matchLabels"], (s["selector"], dep["spec"]["selector"])
    assert [(p["port"], p["targetPort"]) for p in s["ports"]] == [(port, "grpc")], s["ports"]
    assert hsvc["metadata"]["labels"]["shimkit.io/set"] == dep["spec"]["template"]["metadata"]["labels"][
        "shimkit.io/set"]


def router_sets(got, name):
    """{set: {key: [values]}} of the router's sets file, as the server holds it, after checking that the
    router's Deployment reads it (--sets-file from the ConfigMap, read-only) and carries its checksum."""
    text = got["ConfigMap"][f"{name}-router-sets"]["data"]["router.sets"]
    tmpl = got["Deployment"][f"{name}-router"]["spec"]["template"]
    assert tmpl["metadata"]["annotations"]["shimkit.io/sets-sha256"] == hashlib.sha256(text.encode()).hexdigest()
    (c,) = tmpl["spec"]["containers"]
    assert c["args"][c["args"].index("--sets-file") + 1] == "/etc/shimkit/router.sets", c["args"]
    assert "--state" not in c["args"] and "--backend" not in c["args"], c["args"]
    assert {"name": "sets", "mountPath": "/etc/shimkit", "readOnly": True} in c["volumeMounts"], c["volumeMounts"]
    vols = {v["name"]: v for v in tmpl["spec"]["volumes"]}
    assert vols["sets"]["configMap"]["name"] == f"{name}-router-sets", vols
    assert "data" not in vols, vols  # no --state to keep
    lines = [l for l in text.splitlines() if l and not l.startswith("#")]
    assert lines[0] == "shimkit-router-state 1" and lines[-1] == f"end-state {lines.count('end')}", lines
    sets, cur = {}, None
    for l in lines[1:-1]:
        key, _, value = l.partition(" ")
        if key == "set":
            cur = sets.setdefault(value, {})
        elif key == "end":
            cur = None
        else:
            cur.setdefault(key, []).append(value)
    return sets, tmpl["metadata"]["annotations"]["shimkit.io/sets-sha256"]


SERVICE = {"model_repository": "shimkit.ml.v1.ModelRepository", "feature_store": "shimkit.ml.v1.FeatureStore",
           "training": "shimkit.ml.v1.Training", "model_execution": "inference.GRPCInferenceService"}


def check_router_sets(got, name, want):
    """The router's sets are the stack's sets (want: suffix -> WANT row), each on its headless Service."""
    sets, sha = router_sets(got, name)
    assert set(sets) == {f"{w[0]}-{w[1]}" for w in want.values()}, sorted(sets)
    for suffix, w in want.items():
        s = sets[f"{w[0]}-{w[1]}"]
        assert s["service"] == [SERVICE[w[0]]], s
        assert s["policy"] == ["round_robin"] and s["weight"] == ["100"], s
        assert s["backend"] == [f"dns:{name}-{suffix}-pods:{w[3]}"], s
        check_headless(got["Deployment"][f"{name}-{suffix}"], got["Service"][f"{name}-{suffix}-pods"], w[3])
    return sha


def test_kubernetes_up_scale_swap_down(kube, tmp_path):
    name = f"k{os.getpid()}"
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(STACK.format(name=name, training="xgboost"))

    r = shimctl(stack_file, "up")
    print(r.stdout, r.stderr)
    assert "kubernetes: applied" in r.stdout, r.stdout
    assert f"deployment.apps/{name}-training-xgboost created" in r.stdout, r.stdout
    got = objects(kube, name)
    want_names = {f"{name}-{s}" for s in WANT} | {f"{name}-router"}
    headless = {f"{name}-{s}-pods" for s in WANT}
    assert set(got["Deployment"]) == want_names, sorted(got["Deployment"])
    assert set(got["Service"]) == want_names | headless, sorted(got["Service"])
    assert set(got["ConfigMap"]) == {f"{name}-router-sets"}, sorted(got["ConfigMap"])
    for suffix, w in WANT.items():
        n = f"{name}-{suffix}"
        check_set(got["Deployment"][n], got["Service"][n], name, *w)
    sha = check_router_sets(got, name, WANT)
    # training's --model-repository is the router's Service, never loopback.
    targs = got["Deployment"][f"{name}-training-xgboost"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"{name}-router:50100" in targs, targs
    assert not any("127.0.0.1" in a for a in targs), targs
    router = got["Deployment"][f"{name}-router"]
    assert router["spec"]["replicas"] == 1
    assert router["spec"]["template"]["spec"]["containers"][0]["image"] == f"shimkit/router-shimkit:{TAG}"
    assert got["Service"][f"{name}-router"]["spec"]["ports"][0]["port"] == 50100

    # scale: one Deployment changes (replicas, generation), the others do not.
    gen = {n: d["metadata"]["generation"] for n, d in got["Deployment"].items()}
    r = shimctl(stack_file, "scale", "training", "5")
    assert f"deployment.apps/{name}-training-xgboost configured" in r.stdout, r.stdout
    shimctl(stack_file, "scale", "feature_store", "1")
    got = objects(kube, name)
    assert got["Deployment"][f"{name}-training-xgboost"]["spec"]["replicas"] == 5
    assert got["Deployment"][f"{name}-feature-store-sqlite"]["spec"]["replicas"] == 1
    for n, d in got["Deployment"].items():
        changed = n in (f"{name}-training-xgboost", f"{name}-feature-store-sqlite")
        assert (d["metadata"]["generation"] > gen[n]) == changed, (n, d["metadata"]["generation"], gen[n])
    check_set(got["Deployment"][f"{name}-training-xgboost"], got["Service"][f"{name}-training-xgboost"], name,
              "training", "xgboost", 5, 50051, 10, "2", "2Gi")
    # The router finds the new pods by DNS: its sets, and so its pod template (generation above), stay.
    assert check_router_sets(got, name, WANT) == sha
    router_gen = got["Deployment"][f"{name}-router"]["metadata"]["generation"]
    r = shimctl(stack_file, "scale", "nosuch", "2", check=False)
    assert r.returncode != 0 and "no service nosuch" in r.stderr, r.stderr

    # swap: shimctl swap is kubectl's in this environment and says so; a changed implementation
    # and up again applies the new set, then deletes the old one.
    r = shimctl(stack_file, "swap", "training", "--to", "liblinear", check=False)
    assert r.returncode != 0 and "kubectl" in r.stderr, (r.stdout, r.stderr)
    stack_file.write_text(STACK.format(name=name, training="liblinear"))
    # Before up, scale does not add the new implementation's set beside the running one.
    r = shimctl(stack_file, "scale", "training", "2", check=False)
    assert r.returncode != 0 and "was not deployed by the last shimctl up" in r.stderr, r.stderr
    assert f"{name}-training-liblinear" not in objects(kube, name)["Deployment"]
    r = shimctl(stack_file, "up")
    print(r.stdout, r.stderr)
    assert f"deployment.apps/{name}-training-liblinear created" in r.stdout, r.stdout
    assert f'deployment.apps "{name}-training-xgboost" deleted' in r.stdout, r.stdout
    got = objects(kube, name)
    swapped = {n.replace("training-xgboost", "training-liblinear") for n in want_names}
    swapped_headless = {n.replace("training-xgboost", "training-liblinear") for n in headless}
    assert set(got["Deployment"]) == swapped, sorted(got["Deployment"])
    assert set(got["Service"]) == swapped | swapped_headless, sorted(got["Service"])
    assert f"{name}-training-xgboost-pods" not in got["Service"]  # the old set's headless Service went with it
    check_set(got["Deployment"][f"{name}-training-liblinear"], got["Service"][f"{name}-training-liblinear"], name,
              "training", "liblinear", 3, 50051, 10, "2", "2Gi")
    # The router's sets now name liblinear's headless Service; the checksum changed, so did its pod
    # template: kubectl apply rolled it (a new generation; the controller would start the new pod).
    want_swapped = {k.replace("xgboost", "liblinear"): (w[0], "liblinear" if w[0] == "training" else w[1], *w[2:])
                    for k, w in WANT.items()}
    new_sha = check_router_sets(got, name, want_swapped)
    assert new_sha != sha
    assert got["Deployment"][f"{name}-router"]["metadata"]["generation"] > router_gen
    mdir = tmp_path / ".shimctl" / name / "kubernetes"
    assert not (mdir / f"{name}-training-xgboost.yaml").exists()
    assert (mdir / f"{name}-training-liblinear.yaml").exists()

    # down: nothing of the stack is left, on the server or on disk; a second down is a no-op.
    r = shimctl(stack_file, "down")
    print(r.stdout)
    assert "is down" in r.stdout, r.stdout
    got = objects(kube, name)
    assert got == {"Deployment": {}, "Service": {}, "ConfigMap": {}}, got
    assert not mdir.exists()
    r = shimctl(stack_file, "down")
    assert "is down" in r.stdout
    r = shimctl(stack_file, "scale", "training", "2", check=False)
    assert r.returncode != 0 and "not up" in r.stderr, r.stderr
