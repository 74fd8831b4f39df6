/*
 * me_xgboost.c - the XGBoost runtime over its C API: XGBoosterLoadModel()
 * reads the artifact, the objective in the booster's JSON config says what
 * a prediction means, and XGBoosterPredictFromDense() (thread-safe in-place
 * prediction, one thread per call) scores the dense rows as they are — 0 is
 * a value, only NaN is missing.
 *   binary:logistic  label 0/1 (p > 0.5), probability [1 - p, p]
 *   multi:softprob   label = most probable class, probability per class
 *   anything else    label = the raw prediction (regression, multi:softmax, ...)
 */
#include "me_xgboost.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

typedef enum xgb_kind { XGB_BINARY, XGB_SOFTPROB, XGB_VALUE } xgb_kind;

typedef struct xgb_model {
  BoosterHandle h;
  size_t n_features;
  size_t n_classes; /* 2 for binary, num_class for softprob, 1 otherwise */
  xgb_kind kind;
} xgb_model;

static void xgb_unload(void *model) {
  xgb_model *m = model;
  if (!m) return;
  XGBoosterFree(m->h);
  free(m);
}

/* The objective and class count from the booster's JSON config. */
static int xgb_objective(xgb_model *m, me_err *err) {
  bst_ulong len = 0;
  const char *cfg = NULL;
  if (XGBoosterSaveJsonConfig(m->h, &len, &cfg) != 0 || !cfg)
    return me_fail(err, SHIMKIT_FAILED_PRECONDITION, "XGBoost cannot describe the model: %s",
                   XGBGetLastError());
  m->kind = strstr(cfg, "\"binary:logistic\"")  ? XGB_BINARY
            : strstr(cfg, "\"multi:softprob\"") ? XGB_SOFTPROB
                                                : XGB_VALUE;
  m->n_classes = m->kind == XGB_BINARY ? 2 : 1;
  const char *nc = strstr(cfg, "\"num_class\":\"");
  if (m->kind == XGB_SOFTPROB) {
    long n = nc ? strtol(nc + strlen("\"num_class\":\""), NULL, 10) : 0;
    if (n < 2 || n > ME_MAX_CLASSES)
      return me_fail(err, SHIMKIT_FAILED_PRECONDITION,
                     "XGBoost multi:softprob model with num_class %ld: not servable", n);
    m->n_classes = (size_t)n;
  }
  return 0;
}

static void *xgb_load(const char *path, me_err *err) {
  xgb_model *m = calloc(1, sizeof *m);
  if (!m) {
    me_fail(err, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory");
    return NULL;
  }
  bst_ulong nf = 0;
  if (XGBoosterCreate(NULL, 0, &m->h) != 0 || XGBoosterLoadModel(m->h, path) != 0) {
    me_fail(err, SHIMKIT_FAILED_PRECONDITION, "XGBoost cannot load the artifact: %.300s", XGBGetLastError());
  } else if (XGBoosterSetParam(m->h, "nthread", "1") != 0 || XGBoosterGetNumFeature(m->h, &nf) != 0) {
    me_fail(err, SHIMKIT_FAILED_PRECONDITION, "XGBoost cannot read the model: %.300s", XGBGetLastError());
  } else if (xgb_objective(m, err) == 0) {
    m->n_features = (size_t)nf;
    return m;
  }
  xgb_unload(m);
  return NULL;
}

static size_t xgb_n_features(const void *model) {
  return ((const xgb_model *)model)->n_features;
}

static size_t xgb_classes(const void *model, double *labels) {
  const xgb_model *m = model;
  for (size_t i = 0; i < m->n_classes; i++)
    labels[i] = (double)i;
  return m->n_classes;
}

static bool xgb_has_probability(const void *model) {
  return ((const xgb_model *)model)->kind != XGB_VALUE;
}

static int xgb_predict(const void *model, const double *x, size_t n_rows, size_t nf, double *labels,
                       double *probs, me_err *err) {
  const xgb_model *m = model;
  char values[256];
  static const char config[] =
      "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
      "\"strict_shape\": false, \"cache_id\": 0, \"missing\": NaN}";
  snprintf(values, sizeof values,
           "{\"data\": [%ju, true], \"shape\": [%zu, %zu], \"typestr\": \"<f8\", \"version\": 3}",
           (uintmax_t)(uintptr_t)x, n_rows, nf);
  const bst_ulong *shape = NULL;
  bst_ulong dim = 0;
  const float *out = NULL;
  if (XGBoosterPredictFromDense(m->h, values, config, NULL, &shape, &dim, &out) != 0)
    return me_fail(err, SHIMKIT_INTERNAL, "XGBoost prediction failed: %.300s", XGBGetLastError());
  size_t per_row = m->kind == XGB_SOFTPROB ? m->n_classes : 1;
  bst_ulong total = 1;
  for (bst_ulong d = 0; d < dim; d++)
    total *= shape[d];
  if (total != n_rows * per_row)
    return me_fail(err, SHIMKIT_INTERNAL, "XGBoost returned %llu values for %zu rows",
                   (unsigned long long)total, n_rows);
  for (size_t i = 0; i < n_rows; i++) {
    const float *p = out + i * per_row;
    if (m->kind == XGB_BINARY) {
      labels[i] = p[0] > 0.5f;
      if (probs) probs[2 * i] = 1.0 - p[0], probs[2 * i + 1] = p[0];
    } else if (m->kind == XGB_SOFTPROB) {
      size_t best = 0;
      for (size_t k = 0; k < per_row; k++) {
        if (p[k] > p[best]) best = k;
        if (probs) probs[i * per_row + k] = p[k];
      }
      labels[i] = (double)best;
    } else {
      labels[i] = p[0];
    }
  }
  return 0;
}

const me_runtime_ops me_xgboost = {.framework = "xgboost",
                                   .load = xgb_load,
                                   .unload = xgb_unload,
                                   .n_features = xgb_n_features,
                                   .classes = xgb_classes,
                                   .has_probability = xgb_has_probability,
                                   .predict = xgb_predict};
