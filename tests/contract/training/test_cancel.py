"""Cancel and stop, over every back end. heart_scale trains in milliseconds,
so a job is made slow where it talks to another service: the training shim
registers its models in a stand-in ModelRepository (a grpcio server in this
process, stubs generated from proto/ml/v1) whose CreateModel blocks until the
test releases it. With --max-jobs 1, job A blocks in registration and job B
waits QUEUED behind it.

What the shim promises (services/training/README.md, "Cancel"):
- a QUEUED job is CANCELLED at once;
- a RUNNING job stops at its next step boundary, and a call to another
  service it is blocked in is cancelled, so it ends CANCELLED promptly and
  nothing is registered;
- xgboost trains one boosting round at a time, and a cancel stops it between
  two rounds (the other libraries' train() cannot be interrupted);
- SIGTERM drains: the running job is cancelled the same way, queued ones are
  CANCELLED, each end is logged, and the shim exits 0 within the grace."""
import os
import subprocess
import threading
import time
from concurrent import futures

import grpc
import pytest

from shimproc import Shim
from trclient import BACKENDS, load_heart_scale, state, submit, watch

# A few dozen rows are enough: the job is slow in registration, not training.
ROWS = load_heart_scale()[:40]
WAIT = 20  # seconds anything expected should take at most


class BlockingRepository:
    """A ModelRepository stand-in: CreateModel blocks until release() (or the
    caller cancels), UploadVersion reads the stream and answers version n."""

    def __init__(self, pb):
        self.pb = pb
        self.release_event = threading.Event()
        self.lock = threading.Lock()
        self.entered = []    # model names whose CreateModel arrived
        self.abandoned = []  # model names whose CreateModel the caller cancelled
        self.uploaded = []   # model names of completed uploads
        self.entered_cv = threading.Condition(self.lock)
        repo = self
        base = pb.mr_grpc.ModelRepositoryServicer

        class Servicer(base):
            def CreateModel(self, request, context):
                with repo.lock:
                    repo.entered.append(request.name)
                    repo.entered_cv.notify_all()
                while not repo.release_event.wait(0.05):
                    if not context.is_active():
                        with repo.lock:
                            repo.abandoned.append(request.name)
                        context.abort(grpc.StatusCode.CANCELLED, "the caller went away")
                return pb.mr.RegisteredModel(name=request.name)

            def UploadVersion(self, request_iterator, context):
                header, size = None, 0
                for part in request_iterator:
                    if part.HasField("header"):
                        header = part.header
                    else:
                        size += len(part.chunk)
                assert header is not None and size == header.size_bytes
                with repo.lock:
                    repo.uploaded.append(header.model_name)
                    n = len(repo.uploaded)
                return pb.mr.ModelVersion(model_name=header.model_name, version=n, framework=header.framework)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb.mr_grpc.add_ModelRepositoryServicer_to_server(Servicer(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    def wait_entered(self, name, timeout=WAIT):
        with self.lock:
            assert self.entered_cv.wait_for(lambda: name in self.entered, timeout), \
                f"CreateModel({name}) never arrived; saw {self.entered}"

    def wait_abandoned(self, name, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if name in self.abandoned:
                    return
            time.sleep(0.05)
        raise AssertionError(f"CreateModel({name}) was not cancelled by the caller; abandoned {self.abandoned}")

    def release(self):
        self.release_event.set()

    def stop(self):
        self.release()
        self.server.stop(1).wait(5)


@pytest.fixture
def blocking_repo(pb):
    r = BlockingRepository(pb)
    yield r
    r.stop()


class Watcher(threading.Thread):
    """WatchJob in the background: .events once the stream ended, .error if it broke."""

    def __init__(self, pb, tr, job_id):
        super().__init__(daemon=True)
        self.pb, self.tr, self.job_id = pb, tr, job_id
        self.events, self.error = [], None
        self.first = threading.Event()  # set once the first event (the job's state then) is in
        self.start()

    def run(self):
        try:
            for ev in self.tr.stub.WatchJob(self.pb.tr.WatchJobRequest(id=self.job_id), timeout=120):
                self.events.append(ev)
                self.first.set()
        except grpc.RpcError as e:
            self.error = e
        finally:
            self.first.set()

    def wait_first(self, timeout=WAIT):
        """Until the watch got its first event: the state the job had when the watch began."""
        assert self.first.wait(timeout), f"WatchJob({self.job_id}) sent nothing in {timeout} s"
        assert self.error is None and self.events, self.error

    def states(self):
        """The distinct states in the order seen."""
        out = []
        for ev in self.events:
            s = state(self.pb, ev.job)
            if not out or out[-1] != s:
                out.append(s)
        return out


def get(pb, tr, job_id):
    return tr.stub.GetJob(pb.tr.GetJobRequest(id=job_id), timeout=10)


def wait_state(pb, tr, job_id, want, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get(pb, tr, job_id)
        if state(pb, job) == want:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{job_id} did not reach {want}: {job}")


def start_slow_pair(pb, tr, repo):
    """Job A blocked in CreateModel, job B QUEUED behind it; a watcher on each."""
    a = submit(pb, tr, "slow-a", rows=ROWS)
    wa = Watcher(pb, tr, a.id)
    repo.wait_entered("slow-a")
    assert state(pb, get(pb, tr, a.id)) == "JOB_STATE_RUNNING"
    b = submit(pb, tr, "slow-b", rows=ROWS)
    assert state(pb, b) == "JOB_STATE_QUEUED"
    wb = Watcher(pb, tr, b.id)
    # The watches must have begun before the test cancels or stops: a watch
    # that starts after the cancel sees CANCELLED only (never QUEUED).
    wa.wait_first()
    wb.wait_first()
    assert wb.states() == ["JOB_STATE_QUEUED"], wb.states()  # the only worker is busy with A
    assert state(pb, get(pb, tr, b.id)) == "JOB_STATE_QUEUED"
    return a, b, wa, wb


@pytest.mark.parametrize("backend", BACKENDS)
def test_cancel_queued_and_running(pb, backend, blocking_repo, new_training):
    tr = new_training(backend, blocking_repo.target, None, "--max-jobs", "1")
    a, b, wa, wb = start_slow_pair(pb, tr, blocking_repo)

    # B, queued: CANCELLED in CancelJob's own answer.
    got = tr.stub.CancelJob(pb.tr.CancelJobRequest(id=b.id), timeout=10)
    assert state(pb, got) == "JOB_STATE_CANCELLED", got
    assert got.finished_at.seconds and not got.started_at.seconds and got.model_version == 0
    assert "CancelJob" in got.failure_reason and "queued" in got.failure_reason
    wb.join(WAIT)
    assert not wb.is_alive() and wb.error is None, wb.error
    assert wb.states() == ["JOB_STATE_QUEUED", "JOB_STATE_CANCELLED"]

    # A, blocked in CreateModel: the cancel aborts that call; A ends CANCELLED
    # without the repository ever answering (it is not released until after
    # the cancel: a job that waited for the answer would never end here), and
    # nothing is uploaded.
    got = tr.stub.CancelJob(pb.tr.CancelJobRequest(id=a.id), timeout=10)
    assert state(pb, got) in ("JOB_STATE_RUNNING", "JOB_STATE_CANCELLED"), got
    wa.join(WAIT)
    assert not wa.is_alive() and wa.error is None, wa.error
    done = wa.events[-1].job
    assert state(pb, done) == "JOB_STATE_CANCELLED", done
    assert not blocking_repo.release_event.is_set()  # it ended while CreateModel still blocked
    assert done.model_version == 0 and done.finished_at.seconds >= done.started_at.seconds > 0
    assert "CancelJob" in done.failure_reason and "running" in done.failure_reason
    assert wa.states()[-2:] == ["JOB_STATE_RUNNING", "JOB_STATE_CANCELLED"], wa.states()
    assert any("registering model slow-a" in ev.message for ev in wa.events), [ev.message for ev in wa.events]
    blocking_repo.wait_abandoned("slow-a")
    assert blocking_repo.uploaded == []
    # Cancelling again changes nothing; GetJob agrees.
    again = tr.stub.CancelJob(pb.tr.CancelJobRequest(id=a.id), timeout=10)
    assert state(pb, again) == "JOB_STATE_CANCELLED" and again.finished_at == done.finished_at
    assert state(pb, get(pb, tr, b.id)) == "JOB_STATE_CANCELLED"

    # The worker is free again: once the repository answers, a job succeeds.
    blocking_repo.release()
    c = submit(pb, tr, "slow-c", rows=ROWS)
    events = watch(pb, tr, c.id, timeout=60)
    assert state(pb, events[-1].job) == "JOB_STATE_SUCCEEDED", events[-1].job
    assert events[-1].job.model_version == 1 and blocking_repo.uploaded == ["slow-c"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_drains_with_a_running_job(pb, backend, blocking_repo):
    grace_ms = 1500
    shim = Shim("--backend", backend, "--model-repository", blocking_repo.target, "--no-access-log",
                "--max-jobs", "1", "--drain-grace-ms", str(grace_ms),
                command=[os.environ["SHIMKIT_TRAINING_SHIM"]]).start()
    channel = grpc.insecure_channel(shim.target)
    try:
        grpc.channel_ready_future(channel).result(timeout=20)

        class TR:
            stub = pb.tr_grpc.TrainingStub(channel)
            backend = None

        tr = TR()
        tr.backend = backend
        a, b, wa, wb = start_slow_pair(pb, tr, blocking_repo)

        # The repository is never released: the stop itself must unblock job A
        # (a shim that waited for CreateModel would never exit; the wait bounds
        # the test, the log says how the jobs ended).
        shim.signal()
        try:
            rc = shim.wait(60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"training_shim did not exit on SIGTERM with job A blocked:\n{shim.log()}")
        log = shim.log()
        assert rc == 0, f"training_shim exited with {rc} on SIGTERM:\n{log}"
        assert not blocking_repo.release_event.is_set()
        # Each job's end is reported as it happens.
        assert f"{a.id} CANCELLED: the shim stopped while running" in log, log
        assert f"{b.id} CANCELLED: the shim stopped while queued" in log, log
        # ... before the shim stopped: the stop waited for A to end, it did not leave it blocked.
        assert log.index(f"{a.id} CANCELLED") < log.index("training_shim stopped"), log
        blocking_repo.wait_abandoned("slow-a")
        assert blocking_repo.uploaded == []
        # The watches ended with the server (their last word is not a success).
        for w in (wa, wb):
            w.join(WAIT)
            assert not w.is_alive()
            assert w.error is not None or state(pb, w.events[-1].job) == "JOB_STATE_CANCELLED"
            assert all(state(pb, ev.job) != "JOB_STATE_SUCCEEDED" for ev in w.events)
    finally:
        channel.close()
        shim.kill()


@pytest.mark.skipif("xgboost" not in BACKENDS, reason="training_shim built without libxgboost-dev")
def test_xgboost_cancel_between_rounds(pb, blocking_repo, new_training):
    """A job with many rounds is cancelled mid-training: it stops at the next round, never registers."""
    tr = new_training("xgboost", blocking_repo.target, None)
    job = submit(pb, tr, "many-rounds", rows=load_heart_scale(), hp={"num_round": "100000"})
    stream = tr.stub.WatchJob(pb.tr.WatchJobRequest(id=job.id), timeout=120)
    events = []
    for ev in stream:
        events.append(ev)
        if "xgboost round" in ev.message:
            break
    got = tr.stub.CancelJob(pb.tr.CancelJobRequest(id=job.id), timeout=10)
    assert state(pb, got) in ("JOB_STATE_RUNNING", "JOB_STATE_CANCELLED"), got
    events += list(stream)
    done = events[-1].job
    assert state(pb, done) == "JOB_STATE_CANCELLED", done
    assert "CancelJob" in done.failure_reason and "running" in done.failure_reason
    assert done.model_version == 0 and "train_accuracy" not in done.metrics
    # It stopped between two rounds, not after the last one (a job that ran
    # on would report round 100000, or not end before the stream's deadline).
    last_round = [e.message for e in events if "xgboost round" in e.message][-1]
    assert not last_round.startswith("xgboost round 100000 of"), last_round
    assert blocking_repo.entered == [] and blocking_repo.uploaded == []
