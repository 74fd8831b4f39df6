"""Client-side helpers of the model execution suite: Open Inference Protocol
requests from heart_scale rows, in typed or raw contents."""
import struct


def features(ip, rows, datatype="FP64", raw=False, shape=None, name="features"):
    """A ModelInferRequest input for rows of features: (input tensor, raw bytes or None)."""
    flat = [v for _, x in rows for v in x]
    t = ip.pb2.ModelInferRequest.InferInputTensor(
        name=name, datatype=datatype, shape=shape if shape is not None else [len(rows), len(rows[0][1])])
    if raw:
        return t, struct.pack(f"<{len(flat)}{'d' if datatype == 'FP64' else 'f'}", *flat)
    if datatype == "FP32":
        t.contents.fp32_contents.extend(flat)
    else:
        t.contents.fp64_contents.extend(flat)
    return t, None


def infer_request(ip, model, rows, version="", id="", outputs=(), **kw):
    t, raw = features(ip, rows, **kw)
    req = ip.pb2.ModelInferRequest(model_name=model, model_version=version, id=id, inputs=[t],
                                   outputs=[ip.pb2.ModelInferRequest.InferRequestedOutputTensor(name=o)
                                            for o in outputs])
    if raw is not None:
        req.raw_input_contents.append(raw)
    return req


def output(resp, name):
    """(shape, values) of output name, typed or raw."""
    for i, o in enumerate(resp.outputs):
        if o.name == name:
            assert o.datatype == "FP64"
            if resp.raw_output_contents:
                data = resp.raw_output_contents[i]
                return list(o.shape), list(struct.unpack(f"<{len(data) // 8}d", data))
            return list(o.shape), list(o.contents.fp64_contents)
    raise AssertionError(f"no output {name} in {[o.name for o in resp.outputs]}")


def accuracy(labels, rows):
    return sum(1 for p, (y, _) in zip(labels, rows) if p == y) / len(rows)


def register(pb, repository, model, data, framework, n_features=13):
    """Uploads data as a new version of model (created when missing); returns its version number."""
    import hashlib
    import importlib

    import grpc
    try:
        repository.stub.CreateModel(pb.mr.CreateModelRequest(name=model), timeout=10)
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.ALREADY_EXISTS, e
    common = importlib.import_module("ml.v1.common_pb2")  # generated beside pb.mr
    header = pb.mr.UploadHeader(
        model_name=model, framework=framework, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
        inputs=[common.TensorSpec(name="features", datatype="FP64", shape=[-1, n_features])],
        outputs=[common.TensorSpec(name="label", datatype="FP64", shape=[-1])])
    parts = [pb.mr.UploadVersionRequest(header=header), pb.mr.UploadVersionRequest(chunk=data)]
    return repository.stub.UploadVersion(iter(parts), timeout=30).version
