/*
 * tr_liblinear.c - trains with liblinear: the dense dataset becomes
 * liblinear's sparse rows (tr_sparse.h, with the optional bias node),
 * train() runs to the end (liblinear has no interruption hook, so a
 * cancel waits for it), save_model() writes the artifact, and predict() on
 * the training rows gives the train accuracy.
 */
#include "tr_liblinear.h"

#include "ll_params.h"
#include "tr_sparse.h"

static void ll_quiet(const char *s) { (void)s; }

static int ll_check(const tr_params *params, tr_err *err) {
  struct parameter param;
  double bias;
  return ll_params_parse(params, &param, &bias, err);
}

TR_SPARSE_LAYOUT(struct feature_node);

static int ll_train(const tr_params *params, const tr_dataset *d, const tr_progress *progress, const char *path,
                    double *train_accuracy, tr_err *err) {
  (void)progress; /* train() cannot be interrupted */
  struct parameter param;
  double bias;
  if (ll_params_parse(params, &param, &bias, err) != 0) return -1;
  tr_sparse sp;
  struct model *model = NULL;
  int rc = -1;
  if (tr_sparse_build(d, bias, "liblinear", &sp, err) != 0) goto err;
  struct problem prob = {.l = (int)d->n_rows,
                         .n = (int)d->n_features + (bias >= 0 ? 1 : 0),
                         .y = d->labels,
                         .x = (struct feature_node **)sp.rows,
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
  for (size_t i = 0; i < d->n_rows; i++)
    right += predict(model, (struct feature_node *)sp.rows[i]) == d->labels[i];
  *train_accuracy = (double)right / (double)d->n_rows;
  rc = 0;
err:
  free_and_destroy_model(&model);
  tr_sparse_free(&sp);
  return rc;
}

const tr_trainer_ops tr_liblinear = {.name = "liblinear", .check = ll_check, .train = ll_train};
