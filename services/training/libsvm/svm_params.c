/*
 * svm_params.c - see svm_params.h.
 */
#include "svm_params.h"

#include <stdbool.h>
#include <string.h>

#include "tr_params.h"

static const char *const svm_keys[] = {"kernel", "C",           "gamma",     "degree",     "coef0",
                                       "eps",    "probability", "shrinking", "cache_size", NULL};
static const char *const svm_kernel_names[] = {"linear", "poly", "rbf", "sigmoid", NULL};
static const int svm_kernel_values[] = {LINEAR, POLY, RBF, SIGMOID};

int svm_params_parse(const tr_params *params, struct svm_parameter *param, tr_err *err) {
  memset(param, 0, sizeof *param);
  param->svm_type = C_SVC;
  param->kernel_type = RBF;
  param->degree = 3;
  param->C = 1;
  param->eps = 0.001;
  param->cache_size = 100;
  param->nu = 0.5;
  param->p = 0.1;
  bool probability = false, shrinking = true;
  if (tr_params_only(params, svm_keys, err) != 0) return -1;
  if (tr_params_choice(params, "kernel", svm_kernel_names, svm_kernel_values, &param->kernel_type, err) != 0)
    return -1;
  if (tr_params_double(params, "C", true, &param->C, err) != 0) return -1;
  if (tr_params_double(params, "gamma", true, &param->gamma, err) != 0) return -1;
  if (tr_params_int(params, "degree", 1, 100, &param->degree, err) != 0) return -1;
  if (tr_params_double(params, "coef0", false, &param->coef0, err) != 0) return -1;
  if (tr_params_double(params, "eps", true, &param->eps, err) != 0) return -1;
  if (tr_params_bool(params, "probability", &probability, err) != 0) return -1;
  if (tr_params_bool(params, "shrinking", &shrinking, err) != 0) return -1;
  if (tr_params_double(params, "cache_size", true, &param->cache_size, err) != 0) return -1;
  param->probability = probability;
  param->shrinking = shrinking;
  return 0;
}
