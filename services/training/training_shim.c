/*
 * training_shim.c - serves shimkit.ml.v1.Training over a native trainer
 * chosen on the command line (or in a --config file):
 *   --backend liblinear | libsvm | xgboost (when built with libxgboost-dev)
 *   --model-repository HOST:PORT   where finished jobs register their models (required)
 *   --feature-store HOST:PORT      where feature-view datasets are read (optional)
 *   --max-jobs N                   jobs training at once (default 2)
 *   --max-queued N                 jobs waiting beyond those (default 64)
 *   --tmp-dir DIR                  for model files before upload (default $TMPDIR or /tmp)
 * The handlers are the same for every back end (tr_handlers.c); only the
 * tr_trainer_ops differ. Common flags come from services/common/shim_cli.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "liblinear/tr_liblinear.h"
#include "libsvm/tr_libsvm.h"
#ifdef TR_HAVE_XGBOOST
#include "xgboost/tr_xgboost.h"
#define TR_BACKENDS "liblinear, libsvm or xgboost"
#else
#define TR_BACKENDS "liblinear or libsvm (this build has no xgboost: libxgboost-dev was not found)"
#endif
#include "shim_cli.h"
#include "tr_handlers.h"
#include "tr_service.h"

#define TR_MAX_JOBS_TOTAL 100000 /* jobs remembered; SubmitJob says RESOURCE_EXHAUSTED past it */

typedef struct tr_shim {
  const char *backend, *repo, *fs, *max_jobs, *max_queued, *tmp_dir; /* options */
  size_t workers, queued; /* --max-jobs and --max-queued, read by check */
  tr_service svc;
} tr_shim;

static int tr_count(const char *opt, const char *v, size_t *out) {
  char *end;
  unsigned long n = strtoul(v, &end, 10);
  if (!v[0] || *end || n < 1 || n > 1024) {
    fprintf(stderr, "training_shim: --%s must be a number from 1 to 1024, not \"%s\"\n", opt, v);
    return -1;
  }
  *out = n;
  return 0;
}

/* One log line per job that ends, also for those a stop cancels. */
static void tr_log_end(const tr_job_view *v, void *ctx) {
  (void)ctx;
  if (v->state == TR_SUCCEEDED) {
    shimkit_log(SHIMKIT_LOG_INFO, "training_shim", "%s SUCCEEDED: model %s version %llu", v->id, v->spec->model_name,
                (unsigned long long)v->model_version);
  } else {
    shimkit_log(v->state == TR_FAILED ? SHIMKIT_LOG_WARN : SHIMKIT_LOG_INFO, "training_shim", "%s %s: %s", v->id,
                tr_state_name(v->state), v->failure_reason);
  }
}

/* The trainer --backend names, or NULL. */
static const tr_trainer_ops *tr_trainer_named(const char *name) {
  if (strcmp(name, "liblinear") == 0) return &tr_liblinear;
  if (strcmp(name, "libsvm") == 0) return &tr_libsvm;
#ifdef TR_HAVE_XGBOOST
  if (strcmp(name, "xgboost") == 0) return &tr_xgboost;
#endif
  return NULL;
}

/* shim_cli's check: the options' values, before anything is bound (exit 2 otherwise). */
static int check(void *ctx) {
  tr_shim *shim = ctx;
  if (!(shim->svc.trainer = tr_trainer_named(shim->backend))) {
    fprintf(stderr, "training_shim: --backend must be " TR_BACKENDS ", not \"%s\"\n", shim->backend);
    return -1;
  }
  if (!shim->repo || !shim->repo[0]) {
    fprintf(stderr, "training_shim: --model-repository HOST:PORT is required (finished jobs register there)\n");
    return -1;
  }
  return tr_count("max-jobs", shim->max_jobs, &shim->workers) != 0 ||
                 tr_count("max-queued", shim->max_queued, &shim->queued) != 0
             ? -1
             : 0;
}

static shimkit_code setup(shimkit_server *srv, void *ctx) {
  tr_shim *shim = ctx;
  tr_service *svc = &shim->svc; /* svc->trainer, shim->workers and shim->queued: set by check */
  svc->repo_addr = shim->repo;
  svc->repo = shimkit_channel_new(shim->repo, NULL, 0);
  if (shim->fs && shim->fs[0]) {
    svc->fs_addr = shim->fs;
    svc->fs = shimkit_channel_new(shim->fs, NULL, 0);
  }
  svc->tmp_dir = shim->tmp_dir[0] ? shim->tmp_dir : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  const tr_jobs_config cfg = {
      .workers = shim->workers, .max_queued = shim->queued, .max_jobs = TR_MAX_JOBS_TOTAL, .run = tr_run, .ctx = svc, .ended = tr_log_end};
  svc->jobs = tr_jobs_new(&cfg);
  if (!svc->repo || (svc->fs_addr && !svc->fs) || !svc->jobs) {
    fprintf(stderr, "training_shim: cannot create the client channels or the job threads\n");
    return SHIMKIT_INTERNAL;
  }
  return shimkit__ml__v1__training__shimkit_register(srv, &tr_handlers, svc);
}

static void teardown(void *ctx) {
  tr_shim *shim = ctx;
  tr_jobs_free(shim->svc.jobs); /* waits for running jobs: they need the channels */
  shimkit_channel_free(shim->svc.repo);
  shimkit_channel_free(shim->svc.fs);
  memset(&shim->svc, 0, sizeof shim->svc);
}

int main(int argc, char **argv) {
  static tr_shim shim = {
      .backend = "liblinear", .repo = "", .fs = "", .max_jobs = "2", .max_queued = "64", .tmp_dir = ""};
  const shim_cli_option options[] = {
      {"backend", "NAME", "native trainer: liblinear (default), libsvm or xgboost (if built)", &shim.backend},
      {"model-repository", "HOST:PORT", "ModelRepository shim that finished jobs register models in (required)",
       &shim.repo},
      {"feature-store", "HOST:PORT", "FeatureStore shim that feature-view datasets are read from", &shim.fs},
      {"max-jobs", "N", "jobs training at once (default 2)", &shim.max_jobs},
      {"max-queued", "N", "jobs waiting beyond those; more is RESOURCE_EXHAUSTED (default 64)", &shim.max_queued},
      {"tmp-dir", "DIR", "directory for model files before upload (default $TMPDIR or /tmp)", &shim.tmp_dir},
      {0},
  };
  const shim_cli_program program = {
      .name = "training_shim",
      .summary = "Serves shimkit.ml.v1.Training (proto/ml/v1/training.proto) over liblinear, libsvm\n"
                 "or xgboost (when built with libxgboost-dev): jobs read a FeatureStore view or\n"
                 "inline rows, train, and register the model in a ModelRepository, with gRPC\n"
                 "health checking and server reflection.",
      .options = options,
      .check = check,
      .setup = setup,
      .teardown = teardown,
      .ctx = &shim,
  };
  return shim_cli_main(&program, argc, argv);
}
