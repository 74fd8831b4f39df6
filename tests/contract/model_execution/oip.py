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
