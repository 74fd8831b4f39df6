/*
 * tr_sparse.c - dense rows to liblinear/libsvm sparse rows (see tr_sparse.h).
 */
#include "tr_sparse.h"

#include <stdint.h>
#include <stdlib.h>

int tr_sparse_build(const tr_dataset *d, double bias, const char *library, tr_sparse *out, tr_err *err) {
  out->nodes = NULL;
  out->rows = NULL;
  size_t extra = bias >= 0 ? 2 : 1; /* the bias node, the end node */
  if (d->n_rows > (size_t)INT32_MAX || d->n_features > (size_t)INT32_MAX - extra)
    return tr_fail(err, "the dataset is too large for %s (%zu rows, %zu features)", library, d->n_rows,
                   d->n_features);
  size_t width = d->n_features + extra;
  out->nodes = calloc(d->n_rows * width, sizeof *out->nodes);
  out->rows = calloc(d->n_rows, sizeof *out->rows);
  if (!out->nodes || !out->rows)
    return tr_fail(err, "out of memory for %zu rows of %zu features", d->n_rows, d->n_features);
  for (size_t i = 0; i < d->n_rows; i++) {
    tr_sparse_node *n = out->rows[i] = out->nodes + i * width;
    const double *row = d->x + i * d->n_features;
    for (size_t j = 0; j < d->n_features; j++) {
      if (row[j] != 0) *n++ = (tr_sparse_node){.index = (int)j + 1, .value = row[j]};
    }
    if (bias >= 0) *n++ = (tr_sparse_node){.index = (int)d->n_features + 1, .value = bias};
    n->index = -1;
  }
  return 0;
}

void tr_sparse_free(tr_sparse *s) {
  if (!s) return;
  free(s->rows);
  free(s->nodes);
  s->rows = NULL;
  s->nodes = NULL;
}
