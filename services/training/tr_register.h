/*
 * tr_register.h - registers a trained model in the ModelRepository over
 * gRPC, through the generated client stubs: CreateModel (ALREADY_EXISTS is
 * fine: the model is there), then UploadVersion as a client stream (a
 * header with the framework, the input/output schema, tags and the sha256
 * of the file, then the file in 64 KiB chunks). The repository checks the
 * sha256 and stores the version only when every byte arrived.
 *
 * Schema: inputs [{features, FP64, [-1, n_features]}], outputs
 * [{label, FP64, [-1]}]; tags: algorithm, training_job, feature_names
 * (comma-separated, in column order), label, rows, train_accuracy and the
 * hyperparameters as "hp.<name>"; class_labels when the trainer's model
 * predicts class indexes (xgboost).
 *
 * Cancel: while CreateModel is waiting for its answer and while the file is
 * being sent, a cancel of the job cancels the call (tr_job_set_abort), and
 * a cancel between the two stops before the upload; tr_register then
 * returns -2 and nothing is stored. Once the whole file is sent the upload
 * is left to finish: the version is registered and the job SUCCEEDS.
 */
#ifndef TR_REGISTER_H
#define TR_REGISTER_H

#include <stdint.h>

#include "tr_service.h"

typedef struct tr_artifact {
  const char *path;       /* the saved model file */
  const char *framework;  /* "liblinear", "libsvm", "xgboost" */
  const char *job_id;
  const char *label;      /* label column name ("label" for inline rows) */
  double train_accuracy;
  const char *class_labels; /* NULL, or the tag class_labels (the model predicts indexes into it) */
} tr_artifact;

/* 0 and *version, -1 with err, or -2 when the job was cancelled. */
int tr_register(const tr_service *svc, tr_job *job, const tr_spec *spec, const tr_dataset *d, const tr_artifact *a,
                uint64_t *version, tr_err *err);


#endif /* TR_REGISTER_H */
