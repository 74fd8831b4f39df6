/*
 * xgb_params.h - the XGBoost hyper-parameters of a job, parsed and checked
 * without the library (the unit tests parse without libxgboost). Names,
 * meanings and defaults follow XGBoost's own parameters:
 *   objective         binary:logistic | binary:hinge (2 classes) |
 *                     multi:softprob | multi:softmax (default: binary:logistic
 *                     for 2 classes, multi:softprob otherwise; num_class is
 *                     set from the data)
 *   num_round         boosting rounds, 1..100000 (default 10)
 *   max_depth         1..64 (default 6)
 *   eta               learning rate, 0 < eta <= 1 (default 0.3)
 *   gamma             minimum loss reduction to split, >= 0 (default 0)
 *   min_child_weight  >= 0 (default 1)
 *   subsample         row share per tree, 0 < s <= 1 (default 1)
 *   colsample_bytree  column share per tree, 0 < s <= 1 (default 1)
 *   lambda            L2 regularisation, >= 0 (default 1)
 *   alpha             L1 regularisation, >= 0 (default 0)
 *   scale_pos_weight  > 0 (default 1)
 *   tree_method       auto | exact | approx | hist (default auto)
 *   seed              0..2147483647 (default 0)
 *   nthread           threads of one job, 1..64 (default 1)
 */
#ifndef XGB_PARAMS_H
#define XGB_PARAMS_H

#include "tr_trainer.h"

typedef enum xgb_objective {
  XGB_OBJ_AUTO, /* binary:logistic or multi:softprob by the number of classes */
  XGB_OBJ_BINARY_LOGISTIC,
  XGB_OBJ_BINARY_HINGE,
  XGB_OBJ_MULTI_SOFTPROB,
  XGB_OBJ_MULTI_SOFTMAX,
} xgb_objective;

typedef struct xgb_params {
  int objective; /* xgb_objective */
  int num_round;
  int max_depth;
  double eta, gamma, min_child_weight, subsample, colsample_bytree, lambda, alpha, scale_pos_weight;
  const char *tree_method; /* "auto", ... (a static string) */
  int seed;
  int nthread;
} xgb_params;

/* Fills *p with the defaults, then the job's values. */
int xgb_params_parse(const tr_params *params, xgb_params *p, tr_err *err);

/* The objective for n_classes (>= 2): the one asked, or the default; -1 when it cannot train that many. */
int xgb_params_objective(const xgb_params *p, size_t n_classes, xgb_objective *out, tr_err *err);

/* XGBoost's name of an objective ("binary:logistic"). */
const char *xgb_objective_name(xgb_objective o);

#endif /* XGB_PARAMS_H */
