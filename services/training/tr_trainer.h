/*
 * tr_trainer.h - the native layer of the Training shim.
 *
 * Everything that does not depend on the library (jobs, datasets, the
 * FeatureStore and ModelRepository clients) is shared; a back end
 * (liblinear/, libsvm/, xgboost/) is one tr_trainer_ops: check
 * hyper-parameters, and train on a dense dataset into a model file. No
 * protobuf and no gRPC here.
 *
 * Errors: functions return 0, or -1 after writing a sentence a person can
 * act on into err->msg (tr_fail).
 *
 * Memory: inputs are borrowed for the call; a trainer frees what it
 * allocates before it returns.
 *
 * Threads: train() runs on a job thread, several at once; a trainer keeps
 * no state between calls.
 */
#ifndef TR_TRAINER_H
#define TR_TRAINER_H

#include <stdbool.h>
#include <stddef.h>

#define TR_ERR_MAX 512
typedef struct tr_err {
  char msg[TR_ERR_MAX]; /* set when a call returns -1 */
} tr_err;

/* Formats err->msg and returns -1: return tr_fail(err, "C must be > 0, not %s", v); */
int tr_fail(tr_err *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* One hyper-parameter as the client sent it ("C" = "0.5"). */
typedef struct tr_param {
  const char *key;   /* NUL-terminated */
  const char *value; /* NUL-terminated */
} tr_param;

typedef struct tr_params {
  size_t n;              /* number of items */
  const tr_param *items; /* keys are unique (a proto map) */
} tr_params;

/* A training set, dense: row i is x[i * n_features ...], its label labels[i]. */
typedef struct tr_dataset {
  size_t n_rows;
  size_t n_features;
  char **feature_names; /* n_features names, in column order */
  double *labels;       /* n_rows class labels */
  double *x;            /* n_rows * n_features values, row-major; absent values are 0 */
} tr_dataset;

/*
 * How an iterative trainer (xgboost: one boosting round at a time) reports
 * progress between its steps: report(ctx, fraction done 0..1, message)
 * returns false when the job was cancelled, and the trainer then stops and
 * returns -2. Trainers that cannot be interrupted never call it.
 */
typedef struct tr_progress {
  bool (*report)(void *ctx, double fraction, const char *message);
  void *ctx;
} tr_progress;

typedef struct tr_trainer_ops {
  const char *name; /* "liblinear": the algorithm it answers to and the artifact's framework */
  /*
   * true when the saved model predicts class indexes 0..K-1 (the sorted
   * distinct labels of the dataset) instead of the labels themselves: the
   * registered version then gets the tag class_labels = "l0,l1,...".
   */
  bool class_indexes;
  /* Checks hyper-parameters at SubmitJob (unknown names, bad values). */
  int (*check)(const tr_params *params, tr_err *err);
  /*
   * Trains on data (checked: >= 1 row, >= 2 classes), saves the model with
   * the library's own save function to path, and sets *train_accuracy to
   * the share of training rows the model predicts right. liblinear and
   * libsvm cannot be interrupted (the libraries offer no hook) and ignore
   * progress; an iterative trainer reports through it and returns -2 when
   * it says the job was cancelled.
   */
  int (*train)(const tr_params *params, const tr_dataset *data, const tr_progress *progress, const char *path,
               double *train_accuracy, tr_err *err);
} tr_trainer_ops;

#endif /* TR_TRAINER_H */
