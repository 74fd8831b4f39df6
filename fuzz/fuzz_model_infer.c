/*
 * fuzz_model_infer.c - Open Inference Protocol ModelInfer requests, decoded
 * as the server decodes them, then checked and converted to dense rows by
 * the model execution shim (services/model_execution/me_tensor.c).
 *
 * Why: ModelInfer is the hot path of the model execution shim and its
 * tensors are entirely client-described: shape, datatype, typed contents
 * or raw little-endian bytes, counts that must agree. A disagreement the
 * checks miss is a read past a buffer in the conversion, or a wrong-sized
 * matrix handed to liblinear/libsvm/XGBoost.
 *
 * Input: the first byte gives the model's feature count (0..31) and whether
 * it has probabilities (bit 5), the rest is one ModelInferRequest. What is
 * accepted must be exactly rows x features values.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "me_tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) {
    return 0;
  }
  size_t n_features = data[0] & 31;
  bool has_probability = (data[0] & 32) != 0;
  Inference__ModelInferRequest *req =
      (Inference__ModelInferRequest *)fuzz_unpack(&inference__model_infer_request__descriptor, data + 1, size - 1);
  if (req == NULL) {
    return 0;
  }
  me_err err;
  err.msg[0] = '\0';
  bool label = false, probability = false;
  if (me_tensor_outputs(req, has_probability, &label, &probability, &err) == 0 && probability &&
      !has_probability) {
    abort();
  }
  double *x = NULL;
  size_t rows = 0;
  err.msg[0] = '\0';
  if (me_tensor_features(req, n_features, &x, &rows, &err) == 0) {
    if (x == NULL || rows < 1 || rows * n_features > ME_MAX_ELEMENTS) {
      abort();
    }
    volatile double sum = 0; /* ASan checks that all rows x features values are there */
    for (size_t i = 0; i < rows * n_features; i++) {
      sum += x[i];
    }
    (void)sum;
    (void)me_tensor_is_raw(req);
  } else if (x != NULL || err.msg[0] == '\0') {
    abort(); /* a refusal leaves nothing behind and says why */
  }
  free(x);
  inference__model_infer_request__free_unpacked(req, NULL);
  return 0;
}
