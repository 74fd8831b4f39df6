/*
 * tr_run.c - one job, on a worker thread: the dataset (FeatureStore or
 * inline), its checks, the native training into a temporary model file,
 * then registration in the ModelRepository. Each step is announced with
 * tr_job_step, which is also where a cancel takes effect: the native
 * train() of liblinear and libsvm cannot be interrupted; an iterative
 * trainer (xgboost) reports each round through tr_progress, which is a step
 * too (progress 0.2 to 0.79), so a cancel stops it between two rounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tr_dataset.h"
#include "tr_fsread.h"
#include "tr_register.h"
#include "tr_service.h"

/* Sets the outcome and returns: FAILED with err, or CANCELLED. */
static void tr_end(tr_outcome *out, int rc, const tr_err *err) {
  if (rc == -2) {
    out->state = TR_CANCELLED;
    return;
  }
  out->state = TR_FAILED;
  snprintf(out->reason, sizeof out->reason, "%s", err->msg);
}

/* tr_progress.report: a step of the job inside the training step. */
static bool tr_train_progress(void *ctx, double fraction, const char *message) {
  return tr_job_step(ctx, 0.2 + 0.59 * fraction, message);
}

/* "l0,l1,...": the dataset's sorted class labels (caller frees), or NULL. */
static char *tr_class_labels(const tr_dataset *d) {
  double *classes;
  size_t n = tr_dataset_class_labels(d, &classes);
  char *s = n ? malloc(n * 32 + 1) : NULL;
  if (s) {
    size_t used = 0;
    s[0] = 0;
    for (size_t i = 0; i < n; i++) used += (size_t)snprintf(s + used, 32, "%s%.17g", i ? "," : "", classes[i]);
  }
  free(classes);
  return s;
}

static int tr_load(const tr_service *svc, tr_job *job, const tr_spec *spec, tr_dataset *d, tr_err *err) {
  char msg[TR_MESSAGE_MAX];
  if (spec->source == TR_SOURCE_VIEW) {
    snprintf(msg, sizeof msg, "reading feature view %.60s from the FeatureStore at %.60s", spec->view, svc->fs_addr ? svc->fs_addr : "-");
  } else {
    snprintf(msg, sizeof msg, "taking %zu inline rows", spec->n_rows);
  }
  if (!tr_job_step(job, 0.05, msg)) return -2;
  int rc = spec->source == TR_SOURCE_VIEW ? tr_fs_read(svc, job, spec, d, err) : tr_dataset_from_inline(spec, d, err);
  if (rc == 0) rc = tr_dataset_check(d, err);
  return rc;
}

void tr_run(tr_job *job, const tr_spec *spec, void *ctx, tr_outcome *out) {
  const tr_service *svc = ctx;
  tr_dataset d = {0};
  tr_err err = {{0}};
  char path[512] = "", msg[TR_MESSAGE_MAX], *class_labels = NULL;
  int rc = tr_load(svc, job, spec, &d, &err);
  if (rc != 0) goto end;
  tr_job_metric(job, "rows", (double)d.n_rows);
  tr_job_metric(job, "features", (double)d.n_features);
  tr_job_metric(job, "classes", (double)tr_dataset_classes(&d));

  snprintf(msg, sizeof msg, "training with %s on %zu rows of %zu features", svc->trainer->name, d.n_rows, d.n_features);
  if (!tr_job_step(job, 0.2, msg)) {
    rc = -2;
    goto end;
  }
  snprintf(path, sizeof path, "%s/shimkit-train-XXXXXX", svc->tmp_dir);
  int fd = mkstemp(path);
  if (fd < 0) {
    path[0] = 0;
    rc = tr_fail(&err, "cannot create a temporary model file in %s", svc->tmp_dir);
    goto end;
  }
  close(fd);
  double accuracy = 0;
  const tr_progress progress = {.report = tr_train_progress, .ctx = job};
  rc = svc->trainer->train(&spec->params, &d, &progress, path, &accuracy, &err);
  if (rc != 0) goto end;
  tr_job_metric(job, "train_accuracy", accuracy);

  snprintf(msg, sizeof msg, "registering model %.60s in the ModelRepository at %.60s", spec->model_name, svc->repo_addr);
  if (!tr_job_step(job, 0.8, msg)) {
    rc = -2;
    goto end;
  }
  if (svc->trainer->class_indexes && !(class_labels = tr_class_labels(&d))) {
    rc = tr_fail(&err, "out of memory");
    goto end;
  }
  tr_artifact a = {.path = path,
                   .framework = svc->trainer->name,
                   .job_id = tr_job_id(job),
                   .label = spec->source == TR_SOURCE_VIEW ? spec->label : "label",
                   .train_accuracy = accuracy,
                   .class_labels = class_labels};
  rc = tr_register(svc, job, spec, &d, &a, &out->model_version, &err);
  if (rc == 0) {
    out->state = TR_SUCCEEDED;
    tr_job_step(job, 1.0, "registered");
  }
end:
  if (rc != 0) tr_end(out, rc, &err);
  if (path[0]) unlink(path);
  free(class_labels);
  tr_dataset_free(&d);
}
