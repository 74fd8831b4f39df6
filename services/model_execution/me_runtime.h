/*
 * me_runtime.h - the native layer of the model execution shim.
 *
 * A back end (liblinear/, libsvm/) is one me_runtime_ops: load a model file
 * written by the library's own save function, describe it, predict dense
 * rows, free it. Everything else (the repository client, the model table,
 * tensors, handlers) is shared. No protobuf and no gRPC here.
 *
 * Threads: predict() runs on many call threads at once on the same model;
 * the model is read-only after load(), so adapters must not keep state in
 * it between calls (liblinear and libsvm predict are reentrant on a const
 * model).
 *
 * Memory: load() returns a model the caller frees with unload(); inputs are
 * borrowed for the call.
 */
#ifndef ME_RUNTIME_H
#define ME_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "me_err.h"

#define ME_MAX_CLASSES 1024 /* larger models are refused at load */

typedef struct me_runtime_ops {
  const char *framework; /* the ModelVersion.framework it runs: "liblinear" */
  /* The model in the file at path, or NULL with err set (FAILED_PRECONDITION + reason). */
  void *(*load)(const char *path, me_err *err);
  void (*unload)(void *model); /* accepts NULL */
  /* Features the model was trained on; 0 when the file does not say. */
  size_t (*n_features)(const void *model);
  /* Number of classes (1..ME_MAX_CLASSES); labels[] receives their labels in probability order. */
  size_t (*classes)(const void *model, double *labels);
  /* Whether predict() can give class probabilities. */
  bool (*has_probability)(const void *model);
  /*
   * Predicts n_rows rows of x (row-major, n_features values each; 0 = absent)
   * into labels[n_rows] and, when probs is not NULL, probs[n_rows * classes].
   * 0, or -1 with err set (out of memory).
   */
  int (*predict)(const void *model, const double *x, size_t n_rows, size_t n_features, double *labels,
                 double *probs, me_err *err);
} me_runtime_ops;

#endif /* ME_RUNTIME_H */
