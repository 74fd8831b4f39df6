"""Bad requests and faults get a clear status that names what is wrong:
unknown model / version / alias → NOT_FOUND; a bad "features" tensor →
INVALID_ARGUMENT naming it; an unreachable repository → UNAVAILABLE; an
artifact that does not load → FAILED_PRECONDITION with the reason."""
import os

import grpc
import pytest

from conftest import FRAMEWORKS, Shim, program
from contractkit import free_address
from oip import features, infer_request, register


def status(call, *args, **kw):
    with pytest.raises(grpc.RpcError) as e:
        call(*args, timeout=60, **kw)
    return e.value.code(), e.value.details()


def infer_error(ip, inference, req):
    return status(inference.stub.ModelInfer, req)


def test_unknown_model_version_alias(ip, inference, models, heart):
    rows = heart[1][:2]
    code, msg = infer_error(ip, inference, infer_request(ip, "no-such-model", rows))
    assert code == grpc.StatusCode.NOT_FOUND and "no-such-model" in msg
    code, msg = infer_error(ip, inference, infer_request(ip, models["liblinear"], rows, version="99"))
    assert code == grpc.StatusCode.NOT_FOUND and "99" in msg and models["liblinear"] in msg
    code, msg = status(inference.stub.ModelMetadata, ip.pb2.ModelMetadataRequest(name="no-such-model"))
    assert code == grpc.StatusCode.NOT_FOUND and "no-such-model" in msg
    load = ip.pb2.RepositoryModelLoadRequest(
        model_name=models["libsvm"], parameters={"alias": ip.pb2.ModelRepositoryParameter(string_param="nope")})
    code, msg = status(inference.stub.RepositoryModelLoad, load)
    assert code == grpc.StatusCode.NOT_FOUND and "nope" in msg
    code, msg = infer_error(ip, inference, infer_request(ip, models["liblinear"], rows, version="one"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and '"one"' in msg


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_bad_tensors_name_the_input(ip, inference, models, heart, fw):
    model, rows = models[fw], heart[1][:3]
    bad = []
    bad.append(infer_request(ip, model, rows, shape=[3, 12]))                  # wrong width
    bad.append(infer_request(ip, model, rows, shape=[39]))                     # wrong rank
    bad.append(infer_request(ip, model, rows, shape=[4, 13]))                  # length != shape product
    bad.append(infer_request(ip, model, rows, datatype="INT64"))               # wrong datatype
    bad.append(infer_request(ip, model, rows, datatype="FP64", raw=True, shape=[2, 13]))  # raw length
    both = infer_request(ip, model, rows)
    both.raw_input_contents.append(b"\0" * 8 * 39)                             # raw and typed
    bad.append(both)
    wrong_typed = infer_request(ip, model, rows)                               # FP64 declared, fp32 values
    wrong_typed.inputs[0].datatype = "FP32"
    bad.append(wrong_typed)
    for req in bad:
        code, msg = infer_error(ip, inference, req)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "features" in msg, (code, msg, req.inputs[0])
    missing = ip.pb2.ModelInferRequest(model_name=model)
    code, msg = infer_error(ip, inference, missing)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "features" in msg and "missing" in msg
    t, _ = features(ip, rows, name="x")
    code, msg = infer_error(ip, inference, ip.pb2.ModelInferRequest(model_name=model, inputs=[t]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "x" in msg and "features" in msg
    code, msg = infer_error(ip, inference, infer_request(ip, model, rows, outputs=("score",)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "score" in msg


def test_probability_refused_when_the_model_has_none(ip, inference, models, heart):
    code, msg = infer_error(ip, inference, infer_request(ip, models["libsvm"], heart[1][:2], outputs=("probability",)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "probabilit" in msg


def test_unreachable_repository(ip, new_inference):
    dead = free_address()
    me = new_inference(dead)
    assert me.stub.ServerLive(ip.pb2.ServerLiveRequest(), timeout=10).live
    assert not me.stub.ServerReady(ip.pb2.ServerReadyRequest(), timeout=10).ready
    code, msg = status(me.stub.ModelInfer, infer_request(ip, "anything", [(1, [0.0] * 13)]))
    assert code == grpc.StatusCode.UNAVAILABLE and dead in msg and "unreachable" in msg
    code, msg = status(me.stub.RepositoryIndex, ip.pb2.RepositoryIndexRequest())
    assert code == grpc.StatusCode.UNAVAILABLE and dead in msg


def test_artifacts_that_do_not_load(ip, pb, inference, repository):
    for fw in FRAMEWORKS:
        v = register(pb, repository, f"garbage-{fw}", b"this is not a model\n", fw)
        code, msg = status(inference.stub.ModelInfer, infer_request(ip, f"garbage-{fw}", [(1, [0.0] * 13)]))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and "does not load" in msg and fw in msg, msg
        assert str(v) in msg
    register(pb, repository, "boosted", b"{}", "xgboost")
    code, msg = status(inference.stub.ModelInfer, infer_request(ip, "boosted", [(1, [0.0] * 13)]))
    assert code == grpc.StatusCode.FAILED_PRECONDITION, msg
    if os.environ.get("SHIMKIT_XGB_TRAIN"):  # built with the XGBoost runtime: its own reason
        assert "does not load" in msg and "XGBoost cannot load" in msg, msg
    else:
        assert 'framework "xgboost"' in msg and "cannot run" in msg, msg
    register(pb, repository, "onnx-model", b"\0", "onnx")
    code, msg = status(inference.stub.ModelInfer, infer_request(ip, "onnx-model", [(1, [0.0] * 13)]))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and 'framework "onnx"' in msg, msg


def test_bad_preload_stops_the_shim(ip, repository):
    shim = Shim("--model-repository", repository.target, "--preload", "no-such-model",
                command=program("SHIMKIT_MODEL_EXECUTION_SHIM"))
    with pytest.raises(Exception):
        shim.start()
    assert "no-such-model" in shim.log()
    shim.kill()
