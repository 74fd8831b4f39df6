"""An Open Inference Protocol client generated, at test time, from the public
grpc_predict_v2.proto exactly as KServe publishes it (the file inside the
kserve 0.15.2 wheel on PyPI, fetched and sha256-checked by
scripts/fetch_oip_proto.sh; not committed), with grpcio-tools, in Python.
Nothing of this repository's proto/ is used: if the shim's
proto/inference/grpc_predict_v2.proto drifted from the public file in a
name, a field number or a type, these calls would fail or decode wrong.

Runs in a process of its own (a ctest entry of its own): the generated
module registers package `inference` in protobuf's default pool, as the
suite's own stubs (ip) and tritonclient's do."""
import os
import subprocess

import grpc
import pytest

from conftest import FRAMEWORKS, ROOT, generate_stubs
from oip import accuracy


@pytest.fixture(scope="session")
def kserve(tmp_path_factory):
    """pb2 and grpc modules generated now from KServe's grpc_predict_v2.proto."""
    fetched = subprocess.run([os.path.join(ROOT, "scripts", "fetch_oip_proto.sh")], check=True,
                             capture_output=True, text=True).stdout.strip()
    assert os.path.basename(fetched) == "grpc_predict_v2.proto"
    pb2, grpc_mod = generate_stubs(tmp_path_factory.mktemp("kserve_stubs"), [fetched],
                                   ["grpc_predict_v2_pb2", "grpc_predict_v2_pb2_grpc"],
                                   proto_root=os.path.dirname(fetched), well_known=False)

    class KServe:
        pass
    KServe.pb2, KServe.grpc = pb2, grpc_mod
    assert KServe.pb2.DESCRIPTOR.package == "inference"
    return KServe


@pytest.fixture(scope="session")
def stub(kserve, inference_shim):
    return kserve.grpc.GRPCInferenceServiceStub(grpc.insecure_channel(inference_shim.target))


def test_server_live_and_ready(kserve, stub):
    assert stub.ServerLive(kserve.pb2.ServerLiveRequest(), timeout=30).live
    assert stub.ServerReady(kserve.pb2.ServerReadyRequest(), timeout=30).ready
    md = stub.ServerMetadata(kserve.pb2.ServerMetadataRequest(), timeout=30)
    assert md.name and md.version


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_model_metadata_and_infer(kserve, stub, models, heart, fw):
    pb2, model, test = kserve.pb2, models[fw], heart[1]
    md = stub.ModelMetadata(pb2.ModelMetadataRequest(name=model), timeout=60)  # loads it on first use
    assert stub.ModelReady(pb2.ModelReadyRequest(name=model, version="1"), timeout=60).ready
    assert md.name == model and md.platform == fw and "1" in md.versions
    assert [(t.name, t.datatype, list(t.shape)) for t in md.inputs] == [("features", "FP64", [-1, 13])]
    assert "label" in [t.name for t in md.outputs]

    x = pb2.ModelInferRequest.InferInputTensor(name="features", datatype="FP64", shape=[len(test), 13])
    x.contents.fp64_contents.extend(v for _, row in test for v in row)
    resp = stub.ModelInfer(pb2.ModelInferRequest(model_name=model, id="kserve-proto", inputs=[x]), timeout=60)
    assert resp.model_name == model and resp.model_version == "1" and resp.id == "kserve-proto"
    (out,) = resp.outputs
    assert out.name == "label" and out.datatype == "FP64" and list(out.shape) == [len(test)]
    assert accuracy(out.contents.fp64_contents, test) > 0.75


def test_unknown_model_is_not_found(kserve, stub):
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelMetadata(kserve.pb2.ModelMetadataRequest(name="no-such-model"), timeout=60)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_repository_unload_and_load(kserve, stub, models):
    """KServe's repository messages put model_name in field 1 and answer isLoaded / isUnloaded."""
    pb2, model = kserve.pb2, models["liblinear"]
    loaded = stub.RepositoryModelLoad(pb2.RepositoryModelLoadRequest(model_name=model), timeout=60)
    assert loaded.model_name == model and loaded.isLoaded
    unloaded = stub.RepositoryModelUnload(pb2.RepositoryModelUnloadRequest(model_name=model), timeout=60)
    assert unloaded.model_name == model and unloaded.isUnloaded
    assert not stub.ModelReady(pb2.ModelReadyRequest(name=model), timeout=60).ready
    loaded = stub.RepositoryModelLoad(pb2.RepositoryModelLoadRequest(model_name=model), timeout=60)
    assert loaded.model_name == model and loaded.isLoaded
    assert stub.ModelReady(pb2.ModelReadyRequest(name=model), timeout=60).ready
