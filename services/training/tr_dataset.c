/*
 * tr_dataset.c - see tr_dataset.h. Rows grow by doubling, within
 * TR_MAX_CELLS.
 */
#include "tr_dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tr_dataset_init(tr_dataset *d, char *const *names, size_t n_features, tr_err *err) {
  memset(d, 0, sizeof *d);
  if (n_features == 0) return tr_fail(err, "the dataset has no feature columns");
  if (n_features > TR_MAX_CELLS) return tr_fail(err, "%zu feature columns is too many", n_features);
  d->feature_names = calloc(n_features, sizeof *d->feature_names);
  if (!d->feature_names) return tr_fail(err, "out of memory");
  d->n_features = n_features;
  for (size_t i = 0; i < n_features; i++) {
    d->feature_names[i] = strdup(names[i]);
    if (!d->feature_names[i]) return tr_fail(err, "out of memory");
  }
  return 0;
}

int tr_dataset_add(tr_dataset *d, double label, const double *values, tr_err *err) {
  size_t cap = d->n_rows; /* capacity tracked as the next power of two of n_rows */
  if ((d->n_rows + 1) * d->n_features > TR_MAX_CELLS)
    return tr_fail(err, "the dataset is larger than %zu values (rows x features)", TR_MAX_CELLS);
  if (cap == 0 || (cap & (cap - 1)) == 0) {
    size_t want = cap ? cap * 2 : 1;
    double *labels = realloc(d->labels, want * sizeof *labels);
    if (!labels) return tr_fail(err, "out of memory after %zu rows", d->n_rows);
    d->labels = labels;
    double *x = realloc(d->x, want * d->n_features * sizeof *x);
    if (!x) return tr_fail(err, "out of memory after %zu rows", d->n_rows);
    d->x = x;
  }
  d->labels[d->n_rows] = label;
  memcpy(d->x + d->n_rows * d->n_features, values, d->n_features * sizeof *values);
  d->n_rows++;
  return 0;
}

int tr_dataset_from_inline(const tr_spec *spec, tr_dataset *d, tr_err *err) {
  memset(d, 0, sizeof *d);
  if (spec->n_rows == 0 || !spec->rows) return tr_fail(err, "the dataset is empty: no rows were sent");
  size_t n = spec->rows[0].n_values;
  if (spec->n_feature_names && spec->n_feature_names != n)
    return tr_fail(err, "row 1 has %zu features but %zu feature names were given", n, spec->n_feature_names);
  for (size_t i = 1; i < spec->n_rows; i++)
    if (spec->rows[i].n_values != n)
      return tr_fail(err, "rows have different feature counts: row %zu has %zu, row 1 has %zu", i + 1,
                     spec->rows[i].n_values, n);
  if (n == 0) return tr_fail(err, "the rows have no features");
  char **names = spec->feature_names, **made = NULL;
  if (!spec->n_feature_names) {
    made = calloc(n, sizeof *made);
    for (size_t j = 0; made && j < n; j++) {
      made[j] = malloc(24);
      if (made[j]) snprintf(made[j], 24, "f%zu", j + 1);
    }
    names = made;
  }
  int rc = names ? tr_dataset_init(d, names, n, err) : tr_fail(err, "out of memory");
  for (size_t i = 0; rc == 0 && i < spec->n_rows; i++) rc = tr_dataset_add(d, spec->rows[i].label, spec->rows[i].values, err);
  for (size_t j = 0; made && j < n; j++) free(made[j]);
  free(made);
  return rc;
}

static int tr_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

size_t tr_dataset_class_labels(const tr_dataset *d, double **out) {
  *out = NULL;
  if (d->n_rows == 0) return 0;
  double *s = malloc(d->n_rows * sizeof *s);
  if (!s) return 0;
  memcpy(s, d->labels, d->n_rows * sizeof *s);
  qsort(s, d->n_rows, sizeof *s, tr_cmp_double);
  size_t n = 1;
  for (size_t i = 1; i < d->n_rows; i++)
    if (s[i] != s[n - 1]) s[n++] = s[i];
  *out = s;
  return n;
}

size_t tr_dataset_classes(const tr_dataset *d) {
  double *s;
  size_t n = tr_dataset_class_labels(d, &s);
  free(s);
  return n;
}

size_t tr_dataset_class_index(const double *classes, size_t n, double label) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (classes[mid] < label) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

int tr_dataset_check(const tr_dataset *d, tr_err *err) {
  if (d->n_rows == 0) return tr_fail(err, "the dataset is empty: no rows to train on");
  for (size_t i = 0; i < d->n_rows; i++) {
    if (!isfinite(d->labels[i])) return tr_fail(err, "row %zu: the label is not a finite number", i + 1);
    for (size_t j = 0; j < d->n_features; j++)
      if (!isfinite(d->x[i * d->n_features + j]))
        return tr_fail(err, "row %zu: feature %s is not a finite number", i + 1, d->feature_names[j]);
  }
  size_t classes = tr_dataset_classes(d);
  if (classes == 0) return tr_fail(err, "out of memory");
  if (classes < 2)
    return tr_fail(err, "the dataset has a single class (every label is %g): a classifier needs at least two",
                   d->labels[0]);
  return 0;
}

void tr_dataset_free(tr_dataset *d) {
  if (!d) return;
  for (size_t i = 0; d->feature_names && i < d->n_features; i++) free(d->feature_names[i]);
  free(d->feature_names);
  free(d->labels);
  free(d->x);
  memset(d, 0, sizeof *d);
}
