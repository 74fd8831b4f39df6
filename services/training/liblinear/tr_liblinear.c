/*
 * tr_liblinear.c - trains with liblinear: the dense dataset becomes
 * liblinear's sparse rows (zeros left out, 1-based indexes, an optional bias
 * node), train() runs to the end (liblinear has no interruption hook, so a
 * cancel waits for it), save_model() writes the artifact, and predict() on
 * the training rows gives the train accuracy.
 */
#include "tr_liblinear.h"

#include <stdint.h>
#include <stdlib.h>

#include "ll_params.h"

static void ll_quiet(const char *s) { (void)s; }

static int ll_check(const tr_params *params, tr_err *err) {
  struct parameter param;
  double bias;
  return ll_params_parse(params, &param, &bias, err);
}

/* Row i as liblinear nodes in nodes (room for n_features + 2). */
static struct feature_node *ll_row(const tr_dataset *d, size_t i, double bias, struct feature_node *nodes) {
  size_t k = 0;
  const double *row = d->x + i * d->n_features;
  for (size_t j = 0; j < d->n_features; j++) {
    if (row[j] == 0) continue;
    nodes[k].index = (int)j + 1;
    nodes[k++].value = row[j];
  }
  if (bias >= 0) {
    nodes[k].index = (int)d->n_features + 1;
    nodes[k++].value = bias;
  }
  nodes[k].index = -1;
  return nodes;
}

static int ll_train(const tr_params *params, const tr_dataset *d, const tr_progress *progress, const char *path,
                    double *train_accuracy, tr_err *err) {
  (void)progress; /* train() cannot be interrupted */
  struct parameter param;
  double bias;
  if (ll_params_parse(params, &param, &bias, err) != 0) return -1;
  if (d->n_rows > (size_t)INT32_MAX || d->n_features > (size_t)INT32_MAX - 2)
    return tr_fail(err, "the dataset is too large for liblinear (%zu rows, %zu features)", d->n_rows, d->n_features);
  size_t width = d->n_features + 2;
  struct feature_node *nodes = calloc(d->n_rows * width, sizeof *nodes);
  struct feature_node **rows = calloc(d->n_rows, sizeof *rows);
  struct model *model = NULL;
  int rc = -1;
  if (!nodes || !rows) {
    tr_fail(err, "out of memory for %zu rows of %zu features", d->n_rows, d->n_features);
    goto err;
  }
  for (size_t i = 0; i < d->n_rows; i++) rows[i] = ll_row(d, i, bias, nodes + i * width);
  struct problem prob = {.l = (int)d->n_rows,
                         .n = (int)d->n_features + (bias >= 0 ? 1 : 0),
                         .y = d->labels,
                         .x = rows,
                         .bias = bias};
  set_print_string_function(ll_quiet);
  const char *bad = check_parameter(&prob, &param);
  if (bad) {
    tr_fail(err, "liblinear refused the parameters: %s", bad);
    goto err;
  }
  model = train(&prob, &param);
  if (!model) {
    tr_fail(err, "liblinear train() failed");
    goto err;
  }
  if (save_model(path, model) != 0) {
    tr_fail(err, "liblinear could not save the model to %s", path);
    goto err;
  }
  size_t right = 0;
  for (size_t i = 0; i < d->n_rows; i++) right += predict(model, rows[i]) == d->labels[i];
  *train_accuracy = (double)right / (double)d->n_rows;
  rc = 0;
err:
  free_and_destroy_model(&model);
  free(rows);
  free(nodes);
  return rc;
}

const tr_trainer_ops tr_liblinear = {.name = "liblinear", .check = ll_check, .train = ll_train};
