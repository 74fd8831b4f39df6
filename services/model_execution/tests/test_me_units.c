/*
 * test_me_units.c - the model execution shim without gRPC or a native
 * library: "features" tensors in every encoding and every way to get them
 * wrong (each error must name the input), output selection, and the model
 * table's reference counting against a fake runtime that counts unloads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "me_models.h"
#include "me_tensor.h"

/* ---- a request with one "features" input of n_rows x n_cols ------------- */

typedef struct req_fixture {
  Inference__ModelInferRequest req;
  Inference__ModelInferRequest__InferInputTensor in;
  Inference__ModelInferRequest__InferInputTensor *ins[2];
  Inference__InferTensorContents contents;
  int64_t shape[3];
  double d[64];
  float f[64];
  uint8_t raw[512];
  ProtobufCBinaryData raw_data;
} req_fixture;

static void make(req_fixture *r, const char *datatype, int64_t rows, int64_t cols) {
  memset(r, 0, sizeof *r);
  Inference__ModelInferRequest req = INFERENCE__MODEL_INFER_REQUEST__INIT;
  Inference__ModelInferRequest__InferInputTensor in =
      INFERENCE__MODEL_INFER_REQUEST__INFER_INPUT_TENSOR__INIT;
  Inference__InferTensorContents c = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
  r->req = req;
  r->in = in;
  r->contents = c;
  r->in.name = "features";
  r->in.datatype = (char *)datatype;
  r->shape[0] = rows;
  r->shape[1] = cols;
  r->in.shape = r->shape;
  r->in.n_shape = 2;
  r->in.contents = &r->contents;
  r->ins[0] = &r->in;
  r->req.inputs = r->ins;
  r->req.n_inputs = 1;
  for (int i = 0; i < 64; i++) {
    r->d[i] = i * 0.5;
    r->f[i] = (float)(i * 0.25);
  }
  size_t n = (size_t)(rows * cols);
  if (strcmp(datatype, "FP32") == 0) {
    r->contents.fp32_contents = r->f;
    r->contents.n_fp32_contents = n;
  } else {
    r->contents.fp64_contents = r->d;
    r->contents.n_fp64_contents = n;
  }
}

/* Moves the values into raw_input_contents, little-endian. */
static void make_raw(req_fixture *r) {
  bool fp32 = strcmp(r->in.datatype, "FP32") == 0;
  size_t n = fp32 ? r->contents.n_fp32_contents : r->contents.n_fp64_contents;
  for (size_t i = 0; i < n; i++) {
    uint64_t u = 0;
    if (fp32) {
      uint32_t w;
      memcpy(&w, &r->f[i], 4);
      u = w;
    } else {
      memcpy(&u, &r->d[i], 8);
    }
    for (size_t k = 0; k < (fp32 ? 4u : 8u); k++)
      r->raw[i * (fp32 ? 4 : 8) + k] = (uint8_t)(u >> (8 * k));
  }
  r->raw_data.data = r->raw;
  r->raw_data.len = n * (fp32 ? 4 : 8);
  r->req.raw_input_contents = &r->raw_data;
  r->req.n_raw_input_contents = 1;
  r->contents.n_fp32_contents = r->contents.n_fp64_contents = 0;
}

/* Expects INVALID_ARGUMENT whose message contains every word. */
static void expect_bad(const req_fixture *r, size_t n_features, const char *word) {
  double *x = (double *)1;
  size_t rows = 7;
  me_err err = {0};
  assert_int_equal(me_tensor_features(&r->req, n_features, &x, &rows, &err), -1);
  assert_null(x);
  assert_int_equal(rows, 0);
  assert_int_equal(err.code, SHIMKIT_INVALID_ARGUMENT);
  assert_non_null(strstr(err.msg, "features"));
  if (word && !strstr(err.msg, word)) fail_msg("\"%s\" not in: %s", word, err.msg);
}

static void expect_ok(const req_fixture *r, size_t n_features, size_t want_rows, bool fp32) {
  double *x = NULL;
  size_t rows = 0;
  me_err err = {0};
  if (me_tensor_features(&r->req, n_features, &x, &rows, &err) != 0) fail_msg("%s", err.msg);
  assert_int_equal(rows, want_rows);
  for (size_t i = 0; i < rows * n_features; i++)
    assert_true(x[i] == (fp32 ? (double)r->f[i] : r->d[i]));
  free(x);
}

static void test_typed_fp64_and_fp32(void **state) {
  (void)state;
  req_fixture r;
  make(&r, "FP64", 3, 4);
  expect_ok(&r, 4, 3, false);
  make(&r, "FP32", 2, 5);
  expect_ok(&r, 5, 2, true);
}

static void test_raw_little_endian(void **state) {
  (void)state;
  req_fixture r;
  make(&r, "FP64", 4, 3);
  make_raw(&r);
  expect_ok(&r, 3, 4, false);
  assert_true(me_tensor_is_raw(&r.req));
  make(&r, "FP32", 3, 3);
  make_raw(&r);
  expect_ok(&r, 3, 3, true);
}

static void test_shape_errors(void **state) {
  (void)state;
  req_fixture r;
  make(&r, "FP64", 3, 4);
  expect_bad(&r, 5, "want [N, 5]"); /* width */
  r.in.n_shape = 1;
  expect_bad(&r, 4, "dimensions"); /* rank */
  make(&r, "FP64", 0, 4);
  expect_bad(&r, 4, "at least 1");
  make(&r, "FP64", 3, 4);
  r.shape[0] = -1;
  expect_bad(&r, 4, "at least 1");
  make(&r, "FP64", 3, 4);
  r.shape[0] = INT64_MAX;
  expect_bad(&r, 4, "more than");
}

static void test_content_errors(void **state) {
  (void)state;
  req_fixture r;
  make(&r, "FP64", 3, 4);
  r.contents.n_fp64_contents = 11; /* length != shape product */
  expect_bad(&r, 4, "needs 12");
  make(&r, "INT64", 3, 4);
  expect_bad(&r, 4, "INT64");
  make(&r, "FP32", 3, 4); /* FP32 declared, but doubles sent too */
  r.contents.fp64_contents = r.d;
  r.contents.n_fp64_contents = 12;
  expect_bad(&r, 4, "fp32_contents");
  make(&r, "FP64", 3, 4);
  r.contents.n_fp64_contents = 0; /* no values at all */
  expect_bad(&r, 4, "no values");
  make(&r, "FP64", 3, 4); /* raw and typed */
  make_raw(&r);
  r.contents.n_fp64_contents = 12;
  expect_bad(&r, 4, "both");
  make(&r, "FP64", 3, 4); /* raw of the wrong size */
  make_raw(&r);
  r.raw_data.len -= 8;
  expect_bad(&r, 4, "bytes");
}

static void test_input_errors(void **state) {
  (void)state;
  req_fixture r;
  make(&r, "FP64", 1, 4);
  r.req.n_inputs = 0;
  expect_bad(&r, 4, "missing");
  make(&r, "FP64", 1, 4);
  r.in.name = "pixels";
  expect_bad(&r, 4, "pixels");
  make(&r, "FP64", 1, 4);
  r.ins[1] = &r.in;
  r.req.n_inputs = 2;
  expect_bad(&r, 4, "2 times");
}

static void test_outputs(void **state) {
  (void)state;
  Inference__ModelInferRequest req = INFERENCE__MODEL_INFER_REQUEST__INIT;
  Inference__ModelInferRequest__InferRequestedOutputTensor o =
      INFERENCE__MODEL_INFER_REQUEST__INFER_REQUESTED_OUTPUT_TENSOR__INIT;
  Inference__ModelInferRequest__InferRequestedOutputTensor *outs[1] = {&o};
  bool label, prob;
  me_err err;
  assert_int_equal(me_tensor_outputs(&req, true, &label, &prob, &err), 0);
  assert_true(label && !prob);
  req.outputs = outs;
  req.n_outputs = 1;
  o.name = "probability";
  assert_int_equal(me_tensor_outputs(&req, true, &label, &prob, &err), 0);
  assert_true(!label && prob);
  assert_int_equal(me_tensor_outputs(&req, false, &label, &prob, &err), -1);
  assert_int_equal(err.code, SHIMKIT_INVALID_ARGUMENT);
  o.name = "score";
  assert_int_equal(me_tensor_outputs(&req, true, &label, &prob, &err), -1);
  assert_non_null(strstr(err.msg, "score"));
}

/* ---- the model table over a fake runtime -------------------------------- */

static int fake_unloads;
static void fake_unload(void *model) {
  (void)model;
  fake_unloads++;
}
static const me_runtime_ops fake_rt = {.framework = "fake", .unload = fake_unload};
static int fake_native;

static void test_table_refcounts(void **state) {
  (void)state;
  fake_unloads = 0;
  me_models *t = me_models_new(2);
  me_err err;
  me_model *a1 = me_model_new("a", 1, &fake_rt, &fake_native),
           *a2 = me_model_new("a", 2, &fake_rt, &fake_native);
  assert_int_equal(me_models_put(t, a1, &err), 0);
  assert_int_equal(me_models_put(t, a2, &err), 0);
  me_model_release(t, a1);
  me_model_release(t, a2);
  me_model *b = me_model_new("b", 1, &fake_rt, &fake_native);
  assert_int_equal(me_models_put(t, b, &err), -1); /* full */
  assert_int_equal(err.code, SHIMKIT_RESOURCE_EXHAUSTED);
  me_model_release(t, b);
  assert_int_equal(fake_unloads, 1);

  me_model *latest = me_models_get(t, "a", 0); /* highest version */
  assert_non_null(latest);
  assert_int_equal(latest->version, 2);
  assert_null(me_models_get(t, "a", 3));
  assert_null(me_models_get(t, "b", 0));

  assert_int_equal(me_models_remove(t, "a", 0), 2); /* unload while a call still predicts */
  assert_int_equal(fake_unloads, 2);                /* version 1 gone, version 2 still in use */
  assert_null(me_models_get(t, "a", 0));
  me_model_release(t, latest);
  assert_int_equal(fake_unloads, 3);
  assert_int_equal(me_models_remove(t, "a", 0), 0);
  me_models_free(t);
}

static void test_table_replace_same_version(void **state) {
  (void)state;
  fake_unloads = 0;
  me_models *t = me_models_new(1);
  me_err err;
  me_model *m1 = me_model_new("m", 1, &fake_rt, &fake_native),
           *m1b = me_model_new("m", 1, &fake_rt, &fake_native);
  assert_int_equal(me_models_put(t, m1, &err), 0);
  assert_int_equal(me_models_put(t, m1b, &err), 0); /* replaces, does not count as a second model */
  me_model_release(t, m1);
  assert_int_equal(fake_unloads, 1);
  me_model *list[4];
  assert_int_equal(me_models_list(t, list, 4), 1);
  assert_ptr_equal(list[0], m1b);
  me_model_release(t, list[0]);
  me_model_release(t, m1b);
  me_models_free(t);
  assert_int_equal(fake_unloads, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_typed_fp64_and_fp32), cmocka_unit_test(test_raw_little_endian),
      cmocka_unit_test(test_shape_errors),        cmocka_unit_test(test_content_errors),
      cmocka_unit_test(test_input_errors),        cmocka_unit_test(test_outputs),
      cmocka_unit_test(test_table_refcounts),     cmocka_unit_test(test_table_replace_same_version),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
