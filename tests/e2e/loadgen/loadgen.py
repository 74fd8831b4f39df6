#!/usr/bin/env python3
"""loadgen.py - a load generator for shimctl's e2e tests: calls one service
through the router at a fixed rate, with wait-for-ready, until a count or a
time is reached (or SIGTERM/SIGINT), and prints one JSON line:

  {"mode": ..., "calls": N, "failed": F, "errors": {"UNAVAILABLE: ...": n},
   "p50_ms": .., "p99_ms": .., "max_ms": .., "duration_s": .., "acked": A,
   "unfinished": U}   (U: calls still running when it gave up waiting)

Modes (what one call is):
  echo              Echo/Say
  training          Training/ListJobs (and GetJob of an unknown id: NOT_FOUND is a success)
  feature_store     FeatureStore/WriteRows of one new row (key lg-<run>-<i>), every
                    other call GetOnlineFeatures of an acknowledged key
  model_repository  ModelRepository/CreateModel of a new model (lg-<run>-<i>),
                    every other call GetModel of an acknowledged one

--acked FILE receives the keys/model names whose write was acknowledged,
one a line, so the test can check every one of them after a swap.
--calls-file FILE receives one line per finished call, "START_S MS OK"
(START_S on time.monotonic(), the same clock for every process of the
machine; OK 1 or 0), so a benchmark can look at the calls of one window.

Bounded: --count and --duration (both), each call has --call-timeout.
Stubs of proto/ml/v1 are generated at start with grpc_tools (as the
contract tests do)."""
import argparse
import importlib
import json
import os
import signal
import sys
import tempfile
import threading
import time

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
PROTO = os.path.join(ROOT, "proto")


def gen_stubs():
    from grpc_tools import protoc
    import grpc_tools

    out = tempfile.mkdtemp(prefix="loadgen-stubs-")
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = [os.path.join(PROTO, "ml", "v1", f) for f in ("common.proto", "feature_store.proto",
                                                          "model_repository.proto")]
    rc = protoc.main(["protoc", f"-I{PROTO}", f"-I{wkt}", f"--python_out={out}", f"--grpc_python_out={out}", *files])
    if rc != 0:
        raise SystemExit("loadgen: grpc_tools.protoc failed")
    sys.path.insert(0, out)
    return out


def ident(b):
    return b


def pb_string(field, s):
    data = s.encode()
    n = len(data)
    varint = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        varint.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes([field << 3 | 2]) + bytes(varint) + data


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = 0
        self.failed = 0
        self.errors = {}
        self.lat = []
        self.acked = []
        self.log = []  # (start on time.monotonic(), ms, ok) per call, for --calls-file

    def ok(self, t0, ms, acked=None):
        with self.lock:
            self.calls += 1
            self.lat.append(ms)
            self.log.append((t0, ms, 1))
            if acked is not None:
                self.acked.append(acked)

    def fail(self, t0, ms, err):
        with self.lock:
            self.calls += 1
            self.failed += 1
            self.lat.append(ms)
            self.log.append((t0, ms, 0))
            key = err[:160]
            self.errors[key] = self.errors.get(key, 0) + 1


def describe(e):
    if isinstance(e, grpc.RpcError):
        return f"{e.code().name}: {e.details()}"
    return f"{type(e).__name__}: {e}"


class Caller:
    def __init__(self, args, channel, stats):
        self.a = args
        self.ch = channel
        self.stats = stats
        self.run = f"{os.getpid()}-{int(time.time() * 1000) % 100000000}"
        mode = args.mode
        if mode in ("feature_store", "model_repository"):
            gen_stubs()
        if mode == "echo":
            self.say = channel.unary_unary("/shimkit.examples.v1.Echo/Say", request_serializer=ident,
                                           response_deserializer=ident)
        elif mode == "training":
            self.list_jobs = channel.unary_unary("/shimkit.ml.v1.Training/ListJobs", request_serializer=ident,
                                                 response_deserializer=ident)
            self.get_job = channel.unary_unary("/shimkit.ml.v1.Training/GetJob", request_serializer=ident,
                                               response_deserializer=ident)
        elif mode == "feature_store":
            self.pb = importlib.import_module("ml.v1.feature_store_pb2")
            grpc_mod = importlib.import_module("ml.v1.feature_store_pb2_grpc")
            self.stub = grpc_mod.FeatureStoreStub(channel)
            pb = self.pb
            v = pb.FeatureView(name=args.view, entity_key="id",
                               features=[pb.FeatureSpec(name="v", type=pb.FEATURE_TYPE_INT64)])
            try:
                self.stub.CreateFeatureView(pb.CreateFeatureViewRequest(view=v), timeout=30, wait_for_ready=True)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise
        elif mode == "model_repository":
            self.pb = importlib.import_module("ml.v1.model_repository_pb2")
            grpc_mod = importlib.import_module("ml.v1.model_repository_pb2_grpc")
            self.stub = grpc_mod.ModelRepositoryStub(channel)

    def call(self, i):
        a = self.a
        t = a.call_timeout
        if a.mode == "echo":
            self.say(pb_string(1, f"m{i}"), timeout=t, wait_for_ready=True)
            return None
        if a.mode == "training":
            if i % 2:
                try:
                    self.get_job(pb_string(1, f"no-such-job-{i}"), timeout=t, wait_for_ready=True)
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.NOT_FOUND:
                        raise
            else:
                self.list_jobs(b"", timeout=t, wait_for_ready=True)
            return None
        pb = self.pb
        with self.stats.lock:
            acked = list(self.stats.acked[-50:])
        if i % 2 and acked:
            key = acked[i % len(acked)]
            if a.mode == "feature_store":
                r = self.stub.GetOnlineFeatures(pb.GetOnlineFeaturesRequest(view=a.view, entity_keys=[key]),
                                                timeout=t, wait_for_ready=True)
                st = r.vectors[0].statuses[0]
                if st != pb.VALUE_STATUS_PRESENT:
                    raise RuntimeError(f"row {key} acknowledged earlier reads as {pb.ValueStatus.Name(st)}")
            else:
                self.stub.GetModel(pb.GetModelRequest(name=key), timeout=t, wait_for_ready=True)
            return None
        key = f"lg-{self.run}-{i}"
        if a.mode == "feature_store":
            row = pb.FeatureRow(entity_key=key, values={"v": pb.FeatureValue(int64_value=i)})
            r = self.stub.WriteRows(iter([pb.WriteRowsRequest(view=a.view, rows=[row])]), timeout=t,
                                    wait_for_ready=True)
            if r.rows_written != 1:
                raise RuntimeError(f"rows_written {r.rows_written}")
        else:
            self.stub.CreateModel(pb.CreateModelRequest(name=key, description="loadgen"), timeout=t,
                                  wait_for_ready=True)
        return key


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True)
    p.add_argument("--mode", required=True, choices=["echo", "training", "feature_store", "model_repository"])
    p.add_argument("--rate", type=float, default=50, help="calls per second")
    p.add_argument("--count", type=int, default=3000, help="most calls")
    p.add_argument("--duration", type=float, default=60, help="most seconds")
    p.add_argument("--call-timeout", type=float, default=20)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--view", default="loadgen")
    p.add_argument("--acked", help="file for the acknowledged keys")
    p.add_argument("--ready-file", help="touched once the first call succeeded")
    p.add_argument("--calls-file", help="file for one line per call: start (monotonic s), ms, ok")
    a = p.parse_args()

    # A plain flag: Event.set() in a signal handler can deadlock on the
    # Event's own lock when the signal lands while the main thread holds it.
    stopping = [False]

    def on_signal(*_):
        stopping[0] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    channel = grpc.insecure_channel(a.target)
    stats = Stats()
    caller = Caller(a, channel, stats)
    sem = threading.Semaphore(a.threads)
    threads = []
    start = time.monotonic()
    ready_written = [False]

    def one(i):
        t0 = time.monotonic()
        try:
            acked = caller.call(i)
            stats.ok(t0, (time.monotonic() - t0) * 1000, acked)
            if a.ready_file and not ready_written[0]:
                ready_written[0] = True
                open(a.ready_file, "w").close()
        except Exception as e:  # noqa: BLE001 - every failure is counted, with its reason
            stats.fail(t0, (time.monotonic() - t0) * 1000, describe(e))
        finally:
            sem.release()

    i = 0
    while not stopping[0] and i < a.count and time.monotonic() - start < a.duration:
        due = start + i / a.rate
        now = time.monotonic()
        if due > now:
            time.sleep(min(due - now, 0.05))
            continue
        if not sem.acquire(timeout=0.1):  # every thread busy: look at stop again
            continue
        th = threading.Thread(target=one, args=(i,), daemon=True)
        th.start()
        threads.append(th)
        threads = [t for t in threads if t.is_alive()]
        i += 1
    # Calls in flight get their own timeout (plus a margin) in all, not each.
    end = time.monotonic() + a.call_timeout + 5
    for th in threads:
        th.join(max(0.0, end - time.monotonic()))
    unfinished = sum(1 for th in threads if th.is_alive())
    lat = sorted(stats.lat)

    def pct(q):
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 2) if lat else None

    if a.acked:
        with open(a.acked, "w") as f:
            f.write("".join(k + "\n" for k in stats.acked))
    if a.calls_file:
        with stats.lock:
            log = list(stats.log)
        with open(a.calls_file, "w") as f:
            f.write("".join(f"{t0:.6f} {ms:.3f} {ok}\n" for t0, ms, ok in log))
    print(json.dumps({"mode": a.mode, "calls": stats.calls, "failed": stats.failed, "errors": stats.errors,
                      "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": round(lat[-1], 2) if lat else None,
                      "duration_s": round(time.monotonic() - start, 2), "acked": len(stats.acked),
                      "unfinished": unfinished}), flush=True)
    channel.close()


if __name__ == "__main__":
    main()
