/*
 * me_models.h - the loaded models: a bounded table of (name, version) →
 * native model, shared read-only by every call.
 *
 * A model is reference counted: the table holds one reference, each call
 * that predicts holds one from me_models_get() to me_model_release(). An
 * unload takes the table's reference away; the native model is freed when
 * the last call using it releases it, so unloading never pulls a model from
 * under a running prediction. One mutex guards the table and the counts;
 * predictions run outside it.
 */
#ifndef ME_MODELS_H
#define ME_MODELS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "me_runtime.h"

#define ME_NAME_MAX 256 /* model and tensor names, with the NUL */
#define ME_MAX_TENSORS 8
#define ME_MAX_DIMS 8

/* One tensor of the version's schema (from the repository). */
typedef struct me_tensor_spec {
  char name[ME_NAME_MAX];
  char datatype[16];
  size_t n_shape;
  int64_t shape[ME_MAX_DIMS]; /* -1 = variable */
} me_tensor_spec;

typedef struct me_model {
  char name[ME_NAME_MAX];
  uint64_t version;
  const me_runtime_ops *rt; /* the runtime named by the version's framework */
  void *native;             /* owned; rt->unload() frees it */
  size_t n_features;        /* columns of the "features" input */
  size_t n_classes;         /* width of the "probability" output */
  bool has_probability;
  size_t n_inputs, n_outputs;
  me_tensor_spec inputs[ME_MAX_TENSORS], outputs[ME_MAX_TENSORS];
  int refs; /* guarded by the table's mutex */
} me_model;

typedef struct me_models {
  pthread_mutex_t mu;
  size_t max; /* most models loaded at once */
  size_t n;   /* models in items */
  me_model **items;
} me_models;

/* A table for max models (>= 1); NULL when out of memory. */
me_models *me_models_new(size_t max);
/* Releases the table's references (models in use are freed by their last call). Accepts NULL. */
void me_models_free(me_models *t);

/* A new model with one reference (the caller's), taking ownership of native. NULL when out of memory. */
me_model *me_model_new(const char *name, uint64_t version, const me_runtime_ops *rt, void *native);
/* Drops one reference; the last frees the native model. Accepts NULL. */
void me_model_release(me_models *t, me_model *m);

/*
 * The loaded model name at version (0 = its highest loaded version), with a
 * reference the caller releases; NULL when not loaded.
 */
me_model *me_models_get(me_models *t, const char *name, uint64_t version);
/*
 * Adds m (the table takes its own reference; the caller keeps theirs). A
 * loaded model of the same name and version is replaced. -1 with err
 * RESOURCE_EXHAUSTED when the table is full.
 */
int me_models_put(me_models *t, me_model *m, me_err *err);
/* Unloads name at version (0 = every version); the number of models removed. */
size_t me_models_remove(me_models *t, const char *name, uint64_t version);
/* Up to max loaded models, each with a reference the caller releases; their number. */
size_t me_models_list(me_models *t, me_model **out, size_t max);

#endif /* ME_MODELS_H */
