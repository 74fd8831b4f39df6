/*
 * tr_xgboost.c - trains gradient-boosted trees with the XGBoost C API: the
 * dense dataset becomes a DMatrix (floats; only NaN is missing, so 0 is a
 * value, as model_execution predicts), labels become class indexes (the
 * sorted distinct labels), the hyper-parameters go through
 * XGBoosterSetParam, and XGBoosterUpdateOneIter runs one boosting round at
 * a time: progress is reported after each and a cancel stops between two.
 * XGBoosterSaveModel writes the artifact as JSON (XGBoost picks the format
 * from the ".json" name, so it saves beside the job's file and renames),
 * and XGBoosterPredict on the training rows gives the train accuracy.
 */
#include "tr_xgboost.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "tr_dataset.h"
#include "xgb_params.h"

#define XGB_MAX_CLASSES 1024 /* model_execution_shim serves no more */

static int xgb_check(const tr_params *params, tr_err *err) {
  xgb_params p;
  return xgb_params_parse(params, &p, err);
}

static int xgb_set(BoosterHandle b, const char *key, const char *value, tr_err *err) {
  if (XGBoosterSetParam(b, key, value) == 0) return 0;
  return tr_fail(err, "XGBoost refused %s = %s: %.300s", key, value, XGBGetLastError());
}

static int xgb_set_num(BoosterHandle b, const char *key, double v, tr_err *err) {
  char s[64];
  snprintf(s, sizeof s, "%.17g", v);
  return xgb_set(b, key, s, err);
}

static int xgb_configure(BoosterHandle b, const xgb_params *p, xgb_objective obj, size_t n_classes,
                         tr_err *err) {
  if (xgb_set(b, "verbosity", "0", err) != 0 || xgb_set(b, "objective", xgb_objective_name(obj), err) != 0 ||
      xgb_set(b, "tree_method", p->tree_method, err) != 0 ||
      xgb_set_num(b, "max_depth", p->max_depth, err) != 0 || xgb_set_num(b, "eta", p->eta, err) != 0 ||
      xgb_set_num(b, "gamma", p->gamma, err) != 0 ||
      xgb_set_num(b, "min_child_weight", p->min_child_weight, err) != 0 ||
      xgb_set_num(b, "subsample", p->subsample, err) != 0 ||
      xgb_set_num(b, "colsample_bytree", p->colsample_bytree, err) != 0 ||
      xgb_set_num(b, "lambda", p->lambda, err) != 0 || xgb_set_num(b, "alpha", p->alpha, err) != 0 ||
      xgb_set_num(b, "scale_pos_weight", p->scale_pos_weight, err) != 0 ||
      xgb_set_num(b, "seed", p->seed, err) != 0 || xgb_set_num(b, "nthread", p->nthread, err) != 0)
    return -1;
  if (obj == XGB_OBJ_MULTI_SOFTPROB || obj == XGB_OBJ_MULTI_SOFTMAX)
    return xgb_set_num(b, "num_class", (double)n_classes, err);
  return 0;
}

/* The predicted class index of row i from XGBoosterPredict's output. */
static size_t xgb_predicted(const float *out, size_t i, xgb_objective obj, size_t n_classes) {
  switch (obj) {
  case XGB_OBJ_BINARY_LOGISTIC: return out[i] > 0.5f;
  case XGB_OBJ_MULTI_SOFTPROB: {
    const float *p = out + i * n_classes;
    size_t best = 0;
    for (size_t k = 1; k < n_classes; k++)
      if (p[k] > p[best]) best = k;
    return best;
  }
  default: return out[i] < 0 ? SIZE_MAX : (size_t)lrintf(out[i]); /* hinge 0/1, softmax the index */
  }
}

static int xgb_accuracy(BoosterHandle b, DMatrixHandle dm, const float *y, size_t n_rows, xgb_objective obj,
                        size_t n_classes, double *accuracy, tr_err *err) {
  bst_ulong len = 0;
  const float *out = NULL;
  if (XGBoosterPredict(b, dm, 0, 0, 0, &len, &out) != 0)
    return tr_fail(err, "XGBoost prediction on the training rows failed: %.300s", XGBGetLastError());
  size_t per_row = obj == XGB_OBJ_MULTI_SOFTPROB ? n_classes : 1;
  if (len != n_rows * per_row)
    return tr_fail(err, "XGBoost predicted %llu values for %zu rows", (unsigned long long)len, n_rows);
  size_t right = 0;
  for (size_t i = 0; i < n_rows; i++)
    right += xgb_predicted(out, i, obj, n_classes) == (size_t)y[i];
  *accuracy = (double)right / (double)n_rows;
  return 0;
}

/* Saves as JSON (XGBoost goes by the file name) to path. */
static int xgb_save(BoosterHandle b, const char *path, tr_err *err) {
  size_t n = strlen(path) + sizeof ".json";
  char *json = malloc(n);
  if (!json) return tr_fail(err, "out of memory");
  snprintf(json, n, "%s.json", path);
  int rc = 0;
  if (XGBoosterSaveModel(b, json) != 0) {
    rc = tr_fail(err, "XGBoost could not save the model to %s: %.300s", json, XGBGetLastError());
  } else if (rename(json, path) != 0) {
    rc = tr_fail(err, "cannot rename %s to %s: %s", json, path, strerror(errno));
  }
  if (rc != 0) remove(json);
  free(json);
  return rc;
}

static int xgb_train(const tr_params *params, const tr_dataset *d, const tr_progress *progress,
                     const char *path, double *train_accuracy, tr_err *err) {
  xgb_params p;
  xgb_objective obj;
  if (xgb_params_parse(params, &p, err) != 0) return -1;
  double *classes = NULL;
  size_t n_classes = tr_dataset_class_labels(d, &classes);
  if (n_classes == 0) return tr_fail(err, "out of memory");
  if (n_classes > XGB_MAX_CLASSES) {
    free(classes);
    return tr_fail(err, "the dataset has %zu classes; XGBoost models here have at most %d", n_classes,
                   XGB_MAX_CLASSES);
  }
  if (xgb_params_objective(&p, n_classes, &obj, err) != 0) {
    free(classes);
    return -1;
  }
  int rc = -1;
  DMatrixHandle dm = NULL;
  BoosterHandle b = NULL;
  float *x = malloc((d->n_rows * d->n_features + 1) * sizeof *x);
  float *y = malloc(d->n_rows * sizeof *y);
  if (!x || !y) {
    tr_fail(err, "out of memory for %zu rows of %zu features", d->n_rows, d->n_features);
    goto out;
  }
  for (size_t i = 0; i < d->n_rows * d->n_features; i++)
    x[i] = (float)d->x[i];
  for (size_t i = 0; i < d->n_rows; i++)
    y[i] = (float)tr_dataset_class_index(classes, n_classes, d->labels[i]);
  if (XGDMatrixCreateFromMat(x, d->n_rows, d->n_features, NAN, &dm) != 0 ||
      XGDMatrixSetFloatInfo(dm, "label", y, d->n_rows) != 0) {
    tr_fail(err, "XGBoost cannot take the dataset: %.300s", XGBGetLastError());
    goto out;
  }
  if (XGBoosterCreate(&dm, 1, &b) != 0) {
    tr_fail(err, "XGBoost cannot create a booster: %.300s", XGBGetLastError());
    goto out;
  }
  if (xgb_configure(b, &p, obj, n_classes, err) != 0) goto out;
  for (int i = 0; i < p.num_round; i++) {
    if (XGBoosterUpdateOneIter(b, i, dm) != 0) {
      tr_fail(err, "XGBoost round %d of %d failed: %.300s", i + 1, p.num_round, XGBGetLastError());
      goto out;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "xgboost round %d of %d (%s)", i + 1, p.num_round, xgb_objective_name(obj));
    if (progress && progress->report &&
        !progress->report(progress->ctx, (double)(i + 1) / p.num_round, msg)) {
      rc = -2;
      goto out;
    }
  }
  if (xgb_save(b, path, err) != 0) goto out;
  rc = xgb_accuracy(b, dm, y, d->n_rows, obj, n_classes, train_accuracy, err);
out:
  if (b) XGBoosterFree(b);
  if (dm) XGDMatrixFree(dm);
  free(x);
  free(y);
  free(classes);
  return rc;
}

const tr_trainer_ops tr_xgboost = {
    .name = "xgboost", .class_indexes = true, .check = xgb_check, .train = xgb_train};
