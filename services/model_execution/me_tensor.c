/*
 * me_tensor.c - see me_tensor.h. Every message names the input and says
 * what was expected, so a client can fix its request from the status alone.
 */
#include "me_tensor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BAD(err, ...) me_fail(err, SHIMKIT_INVALID_ARGUMENT, __VA_ARGS__)

/* Values of the typed contents other than the one the datatype uses. */
static size_t me_other_contents(const Inference__InferTensorContents *c, bool fp32) {
  return c->n_bool_contents + c->n_int_contents + c->n_int64_contents + c->n_uint_contents +
         c->n_uint64_contents + c->n_bytes_contents + (fp32 ? c->n_fp64_contents : c->n_fp32_contents);
}

/* The shape [N, n_features] with N >= 1 and N * n_features bounded. */
static int me_check_shape(const Inference__ModelInferRequest__InferInputTensor *in, size_t n_features,
                          size_t *n_rows, me_err *err) {
  if (in->n_shape != 2)
    return BAD(err, "input %s: shape has %zu dimensions, want 2: [N, %zu]", in->name, in->n_shape,
               n_features);
  if (in->shape[1] != (int64_t)n_features)
    return BAD(err, "input %s: shape [%lld, %lld], want [N, %zu]: the model takes %zu features", in->name,
               (long long)in->shape[0], (long long)in->shape[1], n_features, n_features);
  if (in->shape[0] < 1)
    return BAD(err, "input %s: shape [%lld, %zu]: N must be at least 1", in->name, (long long)in->shape[0],
               n_features);
  if ((uint64_t)in->shape[0] > ME_MAX_ELEMENTS / (n_features ? n_features : 1))
    return BAD(err, "input %s: %lld rows of %zu features is more than the %u values one request may carry",
               in->name, (long long)in->shape[0], n_features, ME_MAX_ELEMENTS);
  *n_rows = (size_t)in->shape[0];
  return 0;
}

static double me_le_double(const uint8_t *p) {
  uint64_t u = 0;
  for (int i = 7; i >= 0; i--)
    u = u << 8 | p[i];
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

static float me_le_float(const uint8_t *p) {
  uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

int me_tensor_features(const Inference__ModelInferRequest *req, size_t n_features, double **x, size_t *n_rows,
                       me_err *err) {
  *x = NULL;
  *n_rows = 0;
  if (req->n_inputs == 0)
    return BAD(err, "input %s is missing: send it as FP64 [N, %zu]", ME_INPUT_NAME, n_features);
  if (req->n_inputs > 1 || strcmp(req->inputs[0]->name, ME_INPUT_NAME) != 0) {
    for (size_t i = 0; i < req->n_inputs; i++)
      if (strcmp(req->inputs[i]->name, ME_INPUT_NAME) != 0)
        return BAD(err, "input %.200s is unknown: the model takes one input, %s FP64 [N, %zu]",
                   req->inputs[i]->name, ME_INPUT_NAME, n_features);
    return BAD(err, "input %s is sent %zu times", ME_INPUT_NAME, req->n_inputs);
  }
  const Inference__ModelInferRequest__InferInputTensor *in = req->inputs[0];
  bool fp32 = strcmp(in->datatype, "FP32") == 0;
  if (!fp32 && strcmp(in->datatype, "FP64") != 0)
    return BAD(err, "input %s: datatype %.32s, want FP64 (or FP32)", in->name, in->datatype);
  size_t rows = 0;
  if (me_check_shape(in, n_features, &rows, err) != 0) return -1;
  size_t count = rows * n_features, width = fp32 ? 4 : 8;
  const Inference__InferTensorContents *c = in->contents;
  size_t typed = c ? c->n_fp64_contents + me_other_contents(c, false) : 0; /* every typed value */
  if (req->n_raw_input_contents) {
    if (typed)
      return BAD(err, "input %s: values are in both contents and raw_input_contents; send one", in->name);
    if (req->n_raw_input_contents != 1)
      return BAD(err, "input %s: raw_input_contents has %zu entries for 1 input", in->name,
                 req->n_raw_input_contents);
    const ProtobufCBinaryData *raw = &req->raw_input_contents[0];
    if (raw->len != count * width)
      return BAD(err, "input %s: raw_input_contents has %zu bytes, shape [%zu, %zu] of %s needs %zu",
                 in->name, raw->len, rows, n_features, in->datatype, count * width);
    double *out = malloc((count ? count : 1) * sizeof *out);
    if (!out) return me_fail(err, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory for %zu values", count);
    for (size_t i = 0; i < count; i++)
      out[i] = fp32 ? (double)me_le_float(raw->data + 4 * i) : me_le_double(raw->data + 8 * i);
    *x = out;
    *n_rows = rows;
    return 0;
  }
  if (!c || (fp32 ? c->n_fp32_contents : c->n_fp64_contents) == 0)
    return BAD(err, "input %s: no values: fill contents.%s or raw_input_contents", in->name,
               fp32 ? "fp32_contents" : "fp64_contents");
  if (me_other_contents(c, fp32))
    return BAD(err, "input %s: datatype %s carries its values in %s only", in->name, in->datatype,
               fp32 ? "fp32_contents" : "fp64_contents");
  size_t have = fp32 ? c->n_fp32_contents : c->n_fp64_contents;
  if (have != count)
    return BAD(err, "input %s: %zu values for shape [%zu, %zu], which needs %zu", in->name, have, rows,
               n_features, count);
  double *out = malloc(count * sizeof *out);
  if (!out) return me_fail(err, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory for %zu values", count);
  for (size_t i = 0; i < count; i++)
    out[i] = fp32 ? (double)c->fp32_contents[i] : c->fp64_contents[i];
  *x = out;
  *n_rows = rows;
  return 0;
}

int me_tensor_outputs(const Inference__ModelInferRequest *req, bool has_probability, bool *label,
                      bool *probability, me_err *err) {
  *label = req->n_outputs == 0;
  *probability = false;
  for (size_t i = 0; i < req->n_outputs; i++) {
    const char *name = req->outputs[i]->name;
    if (strcmp(name, ME_OUTPUT_LABEL) == 0) {
      *label = true;
    } else if (strcmp(name, ME_OUTPUT_PROBABILITY) == 0) {
      if (!has_probability)
        return BAD(err,
                   "output %s: this model gives no probabilities (liblinear: logistic regression solvers; "
                   "libsvm: trained with probability estimates)",
                   name);
      *probability = true;
    } else {
      return BAD(err, "output %.200s is unknown: the model gives %s (and %s when it has probabilities)", name,
                 ME_OUTPUT_LABEL, ME_OUTPUT_PROBABILITY);
    }
  }
  return 0;
}

bool me_tensor_is_raw(const Inference__ModelInferRequest *req) {
  return req->n_raw_input_contents > 0;
}
