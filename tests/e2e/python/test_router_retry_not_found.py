"""shimkit_router's retry_not_found, end to end: a Training set of two real
training_shim replicas behind a real router, called with grpcio stubs
generated from proto/ml/v1/training.proto.

A training job lives on the replica that ran it, and round robin sends
SubmitJob and the GetJob after it to different replicas. With the set's
retry_not_found (as shimctl applies it to training), a replica that answers
NOT_FOUND is not the last word: the router asks the set's other replicas,
so every job submitted through the router is found through it, by GetJob,
WatchJob and CancelJob, every time. An id no replica issued is NOT_FOUND
after both were asked. Without retry_not_found, the same calls get
NOT_FOUND from the replica that does not hold the job: the control that
shows the test can fail. Two replicas never issue the same id.

The replicas' model repository is an unreachable address: jobs end FAILED,
which is all GetJob needs (a job exists from its SubmitJob on)."""
import importlib
import os
import shlex
import sys
import urllib.request

import grpc
import pytest

from shimproc import Shim

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TRAINING = "shimkit.ml.v1.Training"
JOBS = 6


def program(var):
    cmd = os.environ.get(var)
    if not cmd:
        pytest.skip(f"{var} is not set")
    return shlex.split(cmd)


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    """(training_pb2, training_pb2_grpc), generated now."""
    from grpc_tools import protoc
    import grpc_tools

    out = tmp_path_factory.mktemp("training_stubs")
    proto_root = os.path.join(ROOT, "proto")
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = [os.path.join(proto_root, "ml", "v1", f) for f in ("training.proto", "common.proto")]
    rc = protoc.main(["protoc", f"-I{proto_root}", f"-I{well_known}", f"--python_out={out}",
                      f"--grpc_python_out={out}", *files])
    assert rc == 0, "grpc_tools.protoc failed on training.proto"
    sys.path.insert(0, str(out))
    return (importlib.import_module("ml.v1.training_pb2"), importlib.import_module("ml.v1.training_pb2_grpc"))


@pytest.fixture(params=[True, False], ids=["retry_not_found", "control"])
def routed(request, tmp_path):
    """(stub on the router, retry_not_found, router): two training replicas in one set."""
    training, router_cmd = program("SHIMKIT_TRAINING_SHIM"), program("SHIMKIT_ROUTER")
    reps = [Shim("--model-repository", "127.0.0.1:1", command=training).start() for _ in range(2)]
    lines = ["shimkit-router-state 1", "set training", "weight 100", "policy round_robin"]
    lines += ["retry_not_found"] if request.param else []
    lines += [f"service {TRAINING}"] + [f"backend {r.target}" for r in reps] + ["end", "end-state 1"]
    state = tmp_path / "router.state"
    state.write_text("\n".join(lines) + "\n")
    router = Shim("--state", str(state), "--log-level", "debug", "--metrics-listen", "127.0.0.1:0",
                  command=router_cmd).start()
    channel = grpc.insecure_channel(router.target)
    try:
        yield channel, request.param, router
    finally:
        channel.close()
        rc = router.stop(30)
        for r in reps:
            r.kill()
        log = router.log()
        assert rc == 0, f"router exited {rc} on SIGTERM:\n{log}"
        assert "Sanitizer" not in log and "runtime error" not in log, log


def submit(stub, tr):
    rows = [tr.LabeledRow(label=i % 2, features=[float(i), 1.0]) for i in range(4)]
    return stub.SubmitJob(tr.SubmitJobRequest(algorithm="liblinear", model_name="retry-not-found",
                                              inline_rows=tr.InlineDataset(feature_names=["a", "b"], rows=rows)),
                          timeout=10).id


def outcome(fn):
    try:
        fn()
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def failures(router):
    """shimkit_router_backend_failures_total of the training set's replicas, summed."""
    with urllib.request.urlopen(f"http://{router.metrics_address()}/metrics", timeout=10) as r:
        return sum(int(float(l.rsplit(" ", 1)[1])) for l in r.read().decode().splitlines()
                   if l.startswith('shimkit_router_backend_failures_total{set="training"'))


def test_a_job_is_found_on_whichever_replica_ran_it(pb, routed):
    tr, tr_grpc = pb
    channel, retry, router = routed
    stub = tr_grpc.TrainingStub(channel)
    ids = [submit(stub, tr) for _ in range(JOBS)]
    assert len(set(ids)) == JOBS, ids  # two replicas never issue the same id
    assert len({i.rsplit("-", 1)[0] for i in ids}) == 2, ids  # round robin used both replicas
    got = {"GetJob": [], "WatchJob": [], "CancelJob": []}
    for job_id in ids:
        for _ in range(2):  # round robin: one of the two goes to the replica without the job first
            got["GetJob"].append(outcome(lambda: stub.GetJob(tr.GetJobRequest(id=job_id), timeout=10)))
        for _ in range(2):
            got["WatchJob"].append(outcome(
                lambda: next(iter(stub.WatchJob(tr.WatchJobRequest(id=job_id), timeout=10)))))
        got["CancelJob"].append(outcome(lambda: stub.CancelJob(tr.CancelJobRequest(id=job_id), timeout=10)))
    if retry:
        for method, codes in got.items():
            assert set(codes) == {grpc.StatusCode.OK}, (method, codes, router.log())
        # "Not on this replica" is where the router looks next, not a replica failing. (Measured
        # around GetJobs alone: a WatchJob dropped after its first event ends CANCELLED, a failure.)
        before = failures(router)
        for job_id in ids:
            for _ in range(2):
                stub.GetJob(tr.GetJobRequest(id=job_id), timeout=10)
        assert failures(router) == before, router.log()
        # The job found is the one asked for, whichever replica has it.
        for job_id in ids:
            assert stub.GetJob(tr.GetJobRequest(id=job_id), timeout=10).id == job_id
        # An id nobody issued: NOT_FOUND, once both replicas were asked.
        with pytest.raises(grpc.RpcError) as err:
            stub.GetJob(tr.GetJobRequest(id="job-00000000-1"), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        router.wait_log("answered NOT_FOUND")
    else:
        # Without it, the replica that does not hold the job has the last word.
        for method, codes in got.items():
            assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND}, (method, codes)
        for method in ("GetJob", "WatchJob"):
            assert grpc.StatusCode.NOT_FOUND in got[method], (method, got[method])
        before = failures(router)
        codes = [outcome(lambda: stub.GetJob(tr.GetJobRequest(id=job_id), timeout=10)) for job_id in ids
                 for _ in range(2)]
        assert grpc.StatusCode.NOT_FOUND in codes
        assert failures(router) - before == codes.count(grpc.StatusCode.NOT_FOUND)
