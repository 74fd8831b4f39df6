/*
 * me_infer.c - ModelInfer: find (or load) the model, turn the "features"
 * tensor into dense rows (me_tensor.c), predict outside every lock with a
 * reference on the model, and answer "label" FP64 [N] (and "probability"
 * FP64 [N, classes] when asked). Outputs go out the way inputs came in:
 * typed contents, or raw_output_contents for raw inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "me_handlers.h"
#include "me_tensor.h"

/* One FP64 output tensor over values (count of them), typed or raw, in call memory. */
static Inference__ModelInferResponse__InferOutputTensor *me_output(shimkit_call *call, const char *name,
                                                                   const int64_t *shape, size_t n_shape,
                                                                   const double *values, size_t count,
                                                                   bool raw, ProtobufCBinaryData *raw_out) {
  Inference__ModelInferResponse__InferOutputTensor *t = shimkit_call_alloc(call, sizeof *t);
  int64_t *dims = shimkit_call_alloc(call, n_shape * sizeof *dims);
  double *copy = shimkit_call_alloc(call, (count ? count : 1) * sizeof *copy);
  if (!t || !dims || !copy) return NULL;
  Inference__ModelInferResponse__InferOutputTensor init =
      INFERENCE__MODEL_INFER_RESPONSE__INFER_OUTPUT_TENSOR__INIT;
  *t = init;
  t->name = (char *)name;
  t->datatype = "FP64";
  memcpy(dims, shape, n_shape * sizeof *dims);
  t->shape = dims;
  t->n_shape = n_shape;
  if (raw) { /* little-endian bytes, whatever the host's order */
    uint8_t *b = (uint8_t *)copy;
    for (size_t i = 0; i < count; i++) {
      uint64_t u;
      memcpy(&u, &values[i], sizeof u);
      for (int k = 0; k < 8; k++)
        b[8 * i + (size_t)k] = (uint8_t)(u >> (8 * k));
    }
    raw_out->data = b;
    raw_out->len = count * sizeof(double);
    return t;
  }
  Inference__InferTensorContents *c = shimkit_call_alloc(call, sizeof *c);
  if (!c) return NULL;
  Inference__InferTensorContents cinit = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
  *c = cinit;
  memcpy(copy, values, count * sizeof *copy);
  c->fp64_contents = copy;
  c->n_fp64_contents = count;
  t->contents = c;
  return t;
}

/* Predicts and fills resp; the model is referenced by the caller. */
static shimkit_code me_run(shimkit_call *call, const Inference__ModelInferRequest *req, const me_model *m,
                           Inference__ModelInferResponse *resp) {
  me_err err;
  bool want_label, want_prob;
  double *x = NULL, *labels = NULL, *probs = NULL;
  size_t rows;
  if (me_tensor_outputs(req, m->has_probability, &want_label, &want_prob, &err) != 0 ||
      me_tensor_features(req, m->n_features, &x, &rows, &err) != 0)
    return me_reply_error(call, &err);
  shimkit_code code = SHIMKIT_OK;
  labels = malloc(rows * sizeof *labels);
  if (want_prob) probs = malloc(rows * m->n_classes * sizeof *probs);
  if (!labels || (want_prob && !probs)) {
    code = shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory for %zu rows", rows);
    goto done;
  }
  if (m->rt->predict(m->native, x, rows, m->n_features, labels, probs, &err) != 0) {
    code = me_reply_error(call, &err);
    goto done;
  }
  bool raw = me_tensor_is_raw(req);
  size_t n_out = (size_t)want_label + (size_t)want_prob, k = 0;
  resp->outputs = shimkit_call_alloc(call, n_out * sizeof *resp->outputs);
  if (raw) resp->raw_output_contents = shimkit_call_alloc(call, n_out * sizeof *resp->raw_output_contents);
  if (!resp->outputs || (raw && !resp->raw_output_contents)) goto oom;
  if (want_label) {
    int64_t shape[1] = {(int64_t)rows};
    resp->outputs[k] = me_output(call, ME_OUTPUT_LABEL, shape, 1, labels, rows, raw,
                                 raw ? &resp->raw_output_contents[k] : NULL);
    if (!resp->outputs[k++]) goto oom;
  }
  if (want_prob) {
    int64_t shape[2] = {(int64_t)rows, (int64_t)m->n_classes};
    resp->outputs[k] = me_output(call, ME_OUTPUT_PROBABILITY, shape, 2, probs, rows * m->n_classes, raw,
                                 raw ? &resp->raw_output_contents[k] : NULL);
    if (!resp->outputs[k++]) goto oom;
  }
  resp->n_outputs = n_out;
  if (raw) resp->n_raw_output_contents = n_out;
  goto done;
oom:
  code =
      shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory for the outputs of %zu rows", rows);
done:
  free(x);
  free(labels);
  free(probs);
  return code;
}

shimkit_code me_model_infer(shimkit_call *call, const Inference__ModelInferRequest *req,
                            Inference__ModelInferResponse *resp, void *user_data) {
  me_service *svc = user_data;
  me_err err;
  uint64_t version;
  if (me_check_name(req->model_name, &err) != 0 || me_parse_version(req->model_version, &version, &err) != 0)
    return me_reply_error(call, &err);
  me_model *m = me_service_get(svc, req->model_name, version, &err);
  if (!m) return me_reply_error(call, &err);
  char v[24];
  snprintf(v, sizeof v, "%llu", (unsigned long long)m->version);
  resp->model_name = shimkit_call_strdup(call, m->name);
  resp->model_version = shimkit_call_strdup(call, v);
  resp->id = shimkit_call_strdup(call, req->id);
  shimkit_code code = resp->model_name && resp->model_version && resp->id
                          ? me_run(call, req, m, resp)
                          : shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
  me_model_release(svc->models, m);
  return code;
}
