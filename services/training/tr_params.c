/*
 * tr_params.c - see tr_params.h. Values are parsed whole: "1.5x", "", "nan"
 * and out-of-range numbers are refused rather than half-read.
 */
#include "tr_params.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int tr_fail(tr_err *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return -1;
}

/* A map key sent twice: the last one wins, as protobuf's map semantics say. */
const char *tr_params_get(const tr_params *params, const char *key) {
  for (size_t i = params->n; i-- > 0;)
    if (params->items[i].key && strcmp(params->items[i].key, key) == 0) return params->items[i].value;
  return NULL;
}

int tr_params_only(const tr_params *params, const char *const *allowed, tr_err *err) {
  for (size_t i = 0; i < params->n; i++) {
    const char *key = params->items[i].key ? params->items[i].key : "";
    size_t k = 0;
    while (allowed[k] && strcmp(allowed[k], key) != 0) k++;
    if (allowed[k]) continue;
    char list[256] = "";
    for (k = 0; allowed[k]; k++) {
      size_t used = strlen(list);
      snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", allowed[k]);
    }
    return tr_fail(err, "unknown hyperparameter \"%.100s\"; this back end takes: %s", key, list);
  }
  return 0;
}

int tr_params_double(const tr_params *params, const char *key, bool positive, double *out, tr_err *err) {
  const char *v = tr_params_get(params, key);
  if (!v) return 0;
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (!v[0] || *end || errno || !isfinite(d))
    return tr_fail(err, "hyperparameter %s must be a number, not \"%.100s\"", key, v);
  if (positive && !(d > 0)) return tr_fail(err, "hyperparameter %s must be > 0, not %.100s", key, v);
  *out = d;
  return 0;
}

int tr_params_int(const tr_params *params, const char *key, long min, long max, int *out, tr_err *err) {
  const char *v = tr_params_get(params, key);
  if (!v) return 0;
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (!v[0] || *end || errno || n < min || n > max || n < INT_MIN || n > INT_MAX)
    return tr_fail(err, "hyperparameter %s must be a whole number from %ld to %ld, not \"%.100s\"", key, min,
                   max, v);
  *out = (int)n;
  return 0;
}

int tr_params_bool(const tr_params *params, const char *key, bool *out, tr_err *err) {
  const char *v = tr_params_get(params, key);
  if (!v) return 0;
  if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0) {
    *out = true;
  } else if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0) {
    *out = false;
  } else {
    return tr_fail(err, "hyperparameter %s must be true or false, not \"%.100s\"", key, v);
  }
  return 0;
}

int tr_params_choice(const tr_params *params, const char *key, const char *const *names, const int *values,
                     int *out, tr_err *err) {
  const char *v = tr_params_get(params, key);
  if (!v) return 0;
  for (size_t i = 0; names[i]; i++) {
    if (strcasecmp(v, names[i]) == 0) {
      *out = values[i];
      return 0;
    }
  }
  char list[320] = "";
  for (size_t i = 0; names[i]; i++) {
    size_t used = strlen(list);
    snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
  }
  return tr_fail(err, "hyperparameter %s must be one of %s, not \"%.100s\"", key, list, v);
}
