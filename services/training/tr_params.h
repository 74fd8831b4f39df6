/*
 * tr_params.h - typed reads of the string hyper-parameters of a job, shared
 * by every back end's parser (liblinear/ll_params.c, libsvm/svm_params.c).
 * Each getter leaves *out at the caller's default when the key is absent,
 * and fails with a message naming the key and the accepted values.
 */
#ifndef TR_PARAMS_H
#define TR_PARAMS_H

#include <stdbool.h>

#include "tr_trainer.h"

/* The value of key, or NULL; a key given twice: the last value (protobuf map semantics). */
const char *tr_params_get(const tr_params *params, const char *key);

/* Fails on the first key not in allowed (a NULL-terminated list), naming them all. */
int tr_params_only(const tr_params *params, const char *const *allowed, tr_err *err);

/* A finite number; with positive, it must also be > 0. */
int tr_params_double(const tr_params *params, const char *key, bool positive, double *out, tr_err *err);

/* A whole number in [min, max]. */
int tr_params_int(const tr_params *params, const char *key, long min, long max, int *out, tr_err *err);

/* "true"/"false"/"1"/"0". */
int tr_params_bool(const tr_params *params, const char *key, bool *out, tr_err *err);

/* One of names (NULL-terminated, compared case-insensitively); *out = values[i]. */
int tr_params_choice(const tr_params *params, const char *key, const char *const *names, const int *values,
                     int *out, tr_err *err);

#endif /* TR_PARAMS_H */
