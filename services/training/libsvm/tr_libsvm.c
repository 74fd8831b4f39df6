/*
 * tr_libsvm.c - trains a C-SVC with libsvm: the dense dataset becomes
 * libsvm's sparse rows (zeros left out, 1-based indexes), svm_train() runs
 * to the end (no interruption hook: a cancel waits for it),
 * svm_save_model() writes the artifact, and svm_predict() on the training
 * rows gives the train accuracy.
 */
#include "tr_libsvm.h"

#include <stdint.h>
#include <stdlib.h>

#include "svm_params.h"

static void svm_quiet(const char *s) { (void)s; }

static int svm_check(const tr_params *params, tr_err *err) {
  struct svm_parameter param;
  return svm_params_parse(params, &param, err);
}

/* Row i as libsvm nodes in nodes (room for n_features + 1). */
static struct svm_node *svm_row(const tr_dataset *d, size_t i, struct svm_node *nodes) {
  size_t k = 0;
  const double *row = d->x + i * d->n_features;
  for (size_t j = 0; j < d->n_features; j++) {
    if (row[j] == 0) continue;
    nodes[k].index = (int)j + 1;
    nodes[k++].value = row[j];
  }
  nodes[k].index = -1;
  return nodes;
}

static int svm_train_job(const tr_params *params, const tr_dataset *d, const tr_progress *progress,
                         const char *path, double *train_accuracy, tr_err *err) {
  (void)progress; /* svm_train() cannot be interrupted */
  struct svm_parameter param;
  if (svm_params_parse(params, &param, err) != 0) return -1;
  if (d->n_rows > (size_t)INT32_MAX || d->n_features > (size_t)INT32_MAX - 1)
    return tr_fail(err, "the dataset is too large for libsvm (%zu rows, %zu features)", d->n_rows, d->n_features);
  if (param.gamma == 0) param.gamma = 1.0 / (double)d->n_features;
  size_t width = d->n_features + 1;
  struct svm_node *nodes = calloc(d->n_rows * width, sizeof *nodes);
  struct svm_node **rows = calloc(d->n_rows, sizeof *rows);
  struct svm_model *model = NULL;
  int rc = -1;
  if (!nodes || !rows) {
    tr_fail(err, "out of memory for %zu rows of %zu features", d->n_rows, d->n_features);
    goto err;
  }
  for (size_t i = 0; i < d->n_rows; i++) rows[i] = svm_row(d, i, nodes + i * width);
  struct svm_problem prob = {.l = (int)d->n_rows, .y = d->labels, .x = rows};
  svm_set_print_string_function(svm_quiet);
  const char *bad = svm_check_parameter(&prob, &param);
  if (bad) {
    tr_fail(err, "libsvm refused the parameters: %s", bad);
    goto err;
  }
  model = svm_train(&prob, &param);
  if (!model) {
    tr_fail(err, "libsvm svm_train() failed");
    goto err;
  }
  if (svm_save_model(path, model) != 0) {
    tr_fail(err, "libsvm could not save the model to %s", path);
    goto err;
  }
  size_t right = 0;
  for (size_t i = 0; i < d->n_rows; i++) right += svm_predict(model, rows[i]) == d->labels[i];
  *train_accuracy = (double)right / (double)d->n_rows;
  rc = 0;
err:
  /* The model points into rows and nodes (its support vectors): free it first. */
  svm_free_and_destroy_model(&model);
  free(rows);
  free(nodes);
  return rc;
}

const tr_trainer_ops tr_libsvm = {.name = "libsvm", .check = svm_check, .train = svm_train_job};
