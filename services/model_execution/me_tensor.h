/*
 * me_tensor.h - Open Inference Protocol tensors ⇄ dense rows, with every
 * check a client can fail named after its input. Pure: no gRPC, no native
 * library, so the cmocka units drive it with hand-built messages.
 *
 * The one input is "features", FP64 or FP32, shape [N, n_features], its
 * values either in contents (fp64_contents / fp32_contents) or in
 * raw_input_contents (little-endian, row-major); never both.
 */
#ifndef ME_TENSOR_H
#define ME_TENSOR_H

#include <stdbool.h>
#include <stddef.h>

#include "inference/grpc_predict_v2.pb-c.h"
#include "me_err.h"

#define ME_INPUT_NAME "features"
#define ME_OUTPUT_LABEL "label"
#define ME_OUTPUT_PROBABILITY "probability"
#define ME_MAX_ELEMENTS (4u << 20) /* values in one request: 32 MiB of doubles */

/*
 * Checks req's inputs against a model taking n_features columns and sets
 * *x to a malloc'd row-major copy as doubles (caller frees) and *n_rows.
 * -1 with err INVALID_ARGUMENT naming the input otherwise (*x stays NULL).
 */
int me_tensor_features(const Inference__ModelInferRequest *req, size_t n_features, double **x, size_t *n_rows,
                       me_err *err);

/*
 * Which outputs req asks for: none listed = "label" only. -1 with err
 * INVALID_ARGUMENT for an unknown output, or "probability" from a model
 * that cannot give it.
 */
int me_tensor_outputs(const Inference__ModelInferRequest *req, bool has_probability, bool *label,
                      bool *probability, me_err *err);

/* Whether req sent its inputs as raw_input_contents (then outputs go out raw too). */
bool me_tensor_is_raw(const Inference__ModelInferRequest *req);

#endif /* ME_TENSOR_H */
