/*
 * ll_params.h - the liblinear hyper-parameters of a job, parsed into
 * liblinear's own struct parameter (header only: no library call, so the
 * unit tests parse without liblinear). Names and defaults follow
 * liblinear-train:
 *   solver  l2r_lr | l2r_l2loss_svc_dual (default) | l2r_l2loss_svc |
 *           l2r_l1loss_svc_dual | mcsvm_cs | l1r_l2loss_svc | l1r_lr | l2r_lr_dual
 *   C       cost, > 0 (default 1)
 *   eps     stopping tolerance, > 0 (default 0.01 or 0.1 by solver, as liblinear-train)
 *   bias    >= 0 adds a bias feature of that value; < 0 none (default -1)
 * Only classification solvers: the job reports train accuracy.
 */
#ifndef LL_PARAMS_H
#define LL_PARAMS_H

#include <linear.h>

#include "tr_trainer.h"

/* Fills *param (weights unset) and *bias from params. */
int ll_params_parse(const tr_params *params, struct parameter *param, double *bias, tr_err *err);

#endif /* LL_PARAMS_H */
