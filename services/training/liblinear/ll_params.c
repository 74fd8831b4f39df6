/*
 * ll_params.c - see ll_params.h.
 */
#include "ll_params.h"

#include <string.h>

#include "tr_params.h"

static const char *const ll_keys[] = {"solver", "C", "eps", "bias", NULL};
static const char *const ll_solver_names[] = {"l2r_lr",   "l2r_l2loss_svc_dual", "l2r_l2loss_svc", "l2r_l1loss_svc_dual",
                                              "mcsvm_cs", "l1r_l2loss_svc",      "l1r_lr",         "l2r_lr_dual",
                                              NULL};
static const int ll_solver_values[] = {L2R_LR,   L2R_L2LOSS_SVC_DUAL, L2R_L2LOSS_SVC, L2R_L1LOSS_SVC_DUAL,
                                       MCSVM_CS, L1R_L2LOSS_SVC,      L1R_LR,         L2R_LR_DUAL};

/* liblinear-train's default tolerance of each solver. */
static double ll_default_eps(int solver) {
  switch (solver) {
    case L2R_LR:
    case L2R_L2LOSS_SVC:
    case L1R_L2LOSS_SVC:
    case L1R_LR: return 0.01;
    default: return 0.1;
  }
}

int ll_params_parse(const tr_params *params, struct parameter *param, double *bias, tr_err *err) {
  memset(param, 0, sizeof *param);
  param->solver_type = L2R_L2LOSS_SVC_DUAL;
  param->C = 1;
  param->p = 0.1;
  *bias = -1;
  if (tr_params_only(params, ll_keys, err) != 0) return -1;
  if (tr_params_choice(params, "solver", ll_solver_names, ll_solver_values, &param->solver_type, err) != 0)
    return -1;
  param->eps = ll_default_eps(param->solver_type);
  if (tr_params_double(params, "C", true, &param->C, err) != 0) return -1;
  if (tr_params_double(params, "eps", true, &param->eps, err) != 0) return -1;
  if (tr_params_double(params, "bias", false, bias, err) != 0) return -1;
  return 0;
}
