"""The repository extension: RepositoryIndex shows what the ModelRepository
holds and what is loaded here; RepositoryModelLoad fetches by latest,
version or alias; RepositoryModelUnload drops a model, after which
ModelReady is false until something loads it again."""
import grpc
import pytest

from oip import infer_request, output


def param(ip, **kw):
    return {k: (ip.pb2.ModelRepositoryParameter(int64_param=v) if isinstance(v, int)
                else ip.pb2.ModelRepositoryParameter(string_param=v)) for k, v in kw.items()}


def index(ip, me, ready=False):
    resp = me.stub.RepositoryIndex(ip.pb2.RepositoryIndexRequest(ready=ready), timeout=30)
    return {(m.name, m.version): m.state for m in resp.models}


def ready(ip, me, name, version=""):
    return me.stub.ModelReady(ip.pb2.ModelReadyRequest(name=name, version=version), timeout=10).ready


def test_load_unload_index(ip, pb, new_inference, repository, models, heart):
    me = new_inference(repository.target, "--preload", models["libsvm"] + ":1")
    ll, sv = models["liblinear"], models["libsvm"]
    assert ready(ip, me, sv, "1") and not ready(ip, me, ll)
    ix = index(ip, me)
    assert ix[(sv, "1")] == "READY" and ix[(ll, "1")] == "UNAVAILABLE"
    assert (ll, "1") not in index(ip, me, ready=True)

    repository.stub.SetAlias(pb.mr.SetAliasRequest(model_name=ll, alias="production", version=1), timeout=10)
    me.stub.RepositoryModelLoad(ip.pb2.RepositoryModelLoadRequest(
        model_name=ll, parameters=param(ip, alias="production")), timeout=60)
    assert ready(ip, me, ll) and ready(ip, me, ll, "1")
    assert index(ip, me, ready=True)[(ll, "1")] == "READY"

    me.stub.RepositoryModelUnload(ip.pb2.RepositoryModelUnloadRequest(model_name=ll), timeout=10)
    assert not ready(ip, me, ll)
    assert index(ip, me)[(ll, "1")] == "UNAVAILABLE"
    me.stub.RepositoryModelLoad(ip.pb2.RepositoryModelLoadRequest(
        model_name=ll, parameters=param(ip, version=1)), timeout=60)
    me.stub.RepositoryModelLoad(ip.pb2.RepositoryModelLoadRequest(model_name=sv), timeout=60)  # latest: loaded already
    resp = me.stub.ModelInfer(infer_request(ip, ll, heart[1][:5]), timeout=30)
    assert output(resp, "label")[0] == [5]

    with pytest.raises(grpc.RpcError) as e:
        me.stub.RepositoryModelUnload(ip.pb2.RepositoryModelUnloadRequest(model_name="never-loaded"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and "never-loaded" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        me.stub.RepositoryModelLoad(ip.pb2.RepositoryModelLoadRequest(
            model_name=ll, parameters=param(ip, colour="blue")), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "colour" in e.value.details()


def test_max_models(ip, new_inference, repository, models):
    me = new_inference(repository.target, "--max-models", "1", "--preload", models["liblinear"])
    with pytest.raises(grpc.RpcError) as e:
        me.stub.RepositoryModelLoad(ip.pb2.RepositoryModelLoadRequest(model_name=models["libsvm"]), timeout=60)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "max-models" in e.value.details()
    me.stub.RepositoryModelUnload(ip.pb2.RepositoryModelUnloadRequest(model_name=models["liblinear"]), timeout=10)
    me.stub.RepositoryModelLoad(ip.pb2.RepositoryModelLoadRequest(model_name=models["libsvm"]), timeout=60)
    assert ready(ip, me, models["libsvm"])
