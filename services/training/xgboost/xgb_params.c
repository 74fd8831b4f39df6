/*
 * xgb_params.c - see xgb_params.h.
 */
#include "xgb_params.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tr_params.h"

static const char *const xgb_keys[] = {"objective",
                                       "num_round",
                                       "max_depth",
                                       "eta",
                                       "gamma",
                                       "min_child_weight",
                                       "subsample",
                                       "colsample_bytree",
                                       "lambda",
                                       "alpha",
                                       "scale_pos_weight",
                                       "tree_method",
                                       "seed",
                                       "nthread",
                                       NULL};
static const char *const xgb_objective_names[] = {"binary:logistic", "binary:hinge", "multi:softprob",
                                                  "multi:softmax", NULL};
static const int xgb_objective_values[] = {XGB_OBJ_BINARY_LOGISTIC, XGB_OBJ_BINARY_HINGE,
                                           XGB_OBJ_MULTI_SOFTPROB, XGB_OBJ_MULTI_SOFTMAX};
static const char *const xgb_tree_methods[] = {"auto", "exact", "approx", "hist", NULL};
static const int xgb_tree_method_values[] = {0, 1, 2, 3};

/* A number in (lo, hi] or [lo, hi] (lo_open), hi < 0 meaning no upper bound. */
static int xgb_range(const tr_params *params, const char *key, double lo, bool lo_open, double hi,
                     double *out, tr_err *err) {
  double v = *out;
  if (tr_params_double(params, key, false, &v, err) != 0) return -1;
  if ((lo_open ? !(v > lo) : !(v >= lo)) || (hi >= 0 && v > hi)) {
    char range[64];
    if (hi >= 0) {
      snprintf(range, sizeof range, "%s %g and <= %g", lo_open ? ">" : ">=", lo, hi);
    } else {
      snprintf(range, sizeof range, "%s %g", lo_open ? ">" : ">=", lo);
    }
    return tr_fail(err, "hyperparameter %s must be %s, not %.100s", key, range, tr_params_get(params, key));
  }
  *out = v;
  return 0;
}

int xgb_params_parse(const tr_params *params, xgb_params *p, tr_err *err) {
  *p = (xgb_params){.objective = XGB_OBJ_AUTO,
                    .num_round = 10,
                    .max_depth = 6,
                    .eta = 0.3,
                    .gamma = 0,
                    .min_child_weight = 1,
                    .subsample = 1,
                    .colsample_bytree = 1,
                    .lambda = 1,
                    .alpha = 0,
                    .scale_pos_weight = 1,
                    .tree_method = "auto",
                    .seed = 0,
                    .nthread = 1};
  int tree_method = 0;
  if (tr_params_only(params, xgb_keys, err) != 0) return -1;
  if (tr_params_choice(params, "objective", xgb_objective_names, xgb_objective_values, &p->objective, err) !=
      0)
    return -1;
  if (tr_params_int(params, "num_round", 1, 100000, &p->num_round, err) != 0) return -1;
  if (tr_params_int(params, "max_depth", 1, 64, &p->max_depth, err) != 0) return -1;
  if (xgb_range(params, "eta", 0, true, 1, &p->eta, err) != 0) return -1;
  if (xgb_range(params, "gamma", 0, false, -1, &p->gamma, err) != 0) return -1;
  if (xgb_range(params, "min_child_weight", 0, false, -1, &p->min_child_weight, err) != 0) return -1;
  if (xgb_range(params, "subsample", 0, true, 1, &p->subsample, err) != 0) return -1;
  if (xgb_range(params, "colsample_bytree", 0, true, 1, &p->colsample_bytree, err) != 0) return -1;
  if (xgb_range(params, "lambda", 0, false, -1, &p->lambda, err) != 0) return -1;
  if (xgb_range(params, "alpha", 0, false, -1, &p->alpha, err) != 0) return -1;
  if (xgb_range(params, "scale_pos_weight", 0, true, -1, &p->scale_pos_weight, err) != 0) return -1;
  if (tr_params_choice(params, "tree_method", xgb_tree_methods, xgb_tree_method_values, &tree_method, err) !=
      0)
    return -1;
  p->tree_method = xgb_tree_methods[tree_method];
  if (tr_params_int(params, "seed", 0, 2147483647, &p->seed, err) != 0) return -1;
  if (tr_params_int(params, "nthread", 1, 64, &p->nthread, err) != 0) return -1;
  return 0;
}

const char *xgb_objective_name(xgb_objective o) {
  switch (o) {
  case XGB_OBJ_BINARY_LOGISTIC: return "binary:logistic";
  case XGB_OBJ_BINARY_HINGE: return "binary:hinge";
  case XGB_OBJ_MULTI_SOFTPROB: return "multi:softprob";
  case XGB_OBJ_MULTI_SOFTMAX: return "multi:softmax";
  case XGB_OBJ_AUTO: break;
  }
  return "auto";
}

int xgb_params_objective(const xgb_params *p, size_t n_classes, xgb_objective *out, tr_err *err) {
  xgb_objective o = (xgb_objective)p->objective;
  if (o == XGB_OBJ_AUTO) o = n_classes == 2 ? XGB_OBJ_BINARY_LOGISTIC : XGB_OBJ_MULTI_SOFTPROB;
  if ((o == XGB_OBJ_BINARY_LOGISTIC || o == XGB_OBJ_BINARY_HINGE) && n_classes != 2)
    return tr_fail(err, "objective %s needs 2 classes, the dataset has %zu (use multi:softprob)",
                   xgb_objective_name(o), n_classes);
  *out = o;
  return 0;
}
