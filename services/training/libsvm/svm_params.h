/*
 * svm_params.h - the libsvm hyper-parameters of a job, parsed into libsvm's
 * struct svm_parameter (header only: no library call, so the unit tests
 * parse without libsvm). C-SVC always; names and defaults follow svm-train:
 *   kernel       linear | poly | rbf (default) | sigmoid
 *   C            cost, > 0 (default 1)
 *   gamma        > 0; default 1 / number of features (set at train time)
 *   degree       poly: 1..100 (default 3)
 *   coef0        poly/sigmoid (default 0)
 *   eps          stopping tolerance, > 0 (default 0.001)
 *   probability  true: the model also gives class probabilities (default false)
 *   shrinking    heuristics on (default true)
 *   cache_size   kernel cache in MB, > 0 (default 100)
 */
#ifndef SVM_PARAMS_H
#define SVM_PARAMS_H

#include <libsvm/svm.h>

#include "tr_trainer.h"

/* Fills *param; param->gamma is 0 when the job leaves it to the data. */
int svm_params_parse(const tr_params *params, struct svm_parameter *param, tr_err *err);

#endif /* SVM_PARAMS_H */
