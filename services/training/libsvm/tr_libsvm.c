/*
 * tr_libsvm.c - trains a C-SVC with libsvm: the dense dataset becomes
 * libsvm's sparse rows (tr_sparse.h, no bias node), svm_train() runs
 * to the end (no interruption hook: a cancel waits for it),
 * svm_save_model() writes the artifact, and svm_predict() on the training
 * rows gives the train accuracy.
 */
#include "tr_libsvm.h"

#include "svm_params.h"
#include "tr_sparse.h"

static void svm_quiet(const char *s) { (void)s; }

static int svm_check(const tr_params *params, tr_err *err) {
  struct svm_parameter param;
  return svm_params_parse(params, &param, err);
}

TR_SPARSE_LAYOUT(struct svm_node);

static int svm_train_job(const tr_params *params, const tr_dataset *d, const tr_progress *progress,
                         const char *path, double *train_accuracy, tr_err *err) {
  (void)progress; /* svm_train() cannot be interrupted */
  struct svm_parameter param;
  if (svm_params_parse(params, &param, err) != 0) return -1;
  if (param.gamma == 0) param.gamma = 1.0 / (double)d->n_features;
  tr_sparse sp;
  struct svm_model *model = NULL;
  int rc = -1;
  if (tr_sparse_build(d, -1, "libsvm", &sp, err) != 0) goto err;
  struct svm_problem prob = {.l = (int)d->n_rows, .y = d->labels, .x = (struct svm_node **)sp.rows};
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
  for (size_t i = 0; i < d->n_rows; i++)
    right += svm_predict(model, (struct svm_node *)sp.rows[i]) == d->labels[i];
  *train_accuracy = (double)right / (double)d->n_rows;
  rc = 0;
err:
  /* The model points into rows and nodes (its support vectors): free it first. */
  svm_free_and_destroy_model(&model);
  tr_sparse_free(&sp);
  return rc;
}

const tr_trainer_ops tr_libsvm = {.name = "libsvm", .check = svm_check, .train = svm_train_job};
