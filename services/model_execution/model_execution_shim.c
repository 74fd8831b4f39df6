/*
 * model_execution_shim.c - serves the Open Inference Protocol (KServe v2,
 * proto/inference/grpc_predict_v2.proto) over models fetched from a
 * ModelRepository and run by their native runtime (liblinear, libsvm; xgboost when built
 * with libxgboost-dev):
 *   --model-repository HOST:PORT   where models are fetched from (required)
 *   --preload NAME[:VERSION|@ALIAS] models loaded before serving (repeat, or a comma list)
 *   --max-models N                 models loaded at once (default 16)
 *   --tmp-dir DIR                  where artifacts land before loading (default $TMPDIR or /tmp)
 * The handlers are the same for every runtime; the version's framework
 * field picks the me_runtime_ops. Common flags come from services/common/shim_cli.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "liblinear/me_liblinear.h"
#include "libsvm/me_libsvm.h"
#include "me_handlers.h"
#include "shim_cli.h"
#ifdef ME_HAVE_XGBOOST
#include "xgboost/me_xgboost.h"
#endif

#define ME_PRELOAD_MAX 4096 /* bytes of --preload lists */

/* For --help: the runtimes this build carries (xgboost only with libxgboost-dev). */
#ifdef ME_HAVE_XGBOOST
#define ME_RUNTIME_NAMES "liblinear, libsvm, xgboost"
#else
#define ME_RUNTIME_NAMES "liblinear, libsvm"
#endif

static const me_runtime_ops *const me_runtimes[] = {
    &me_liblinear,
    &me_libsvm,
#ifdef ME_HAVE_XGBOOST
    &me_xgboost,
#endif
};

typedef struct me_shim {
  const char *repo, *max_models, *tmp_dir; /* options */
  unsigned long max_loaded;                /* --max-models, read by check */
  char preload[ME_PRELOAD_MAX];            /* every --preload, comma-joined */
  const char *preload_opt;                 /* the last --preload seen by the parser */
  me_service svc;
} me_shim;

/* Loads one "name[:version|@alias]"; -1 after printing why. */
static int me_preload_one(me_service *svc, char *spec) {
  me_err err;
  uint64_t version = 0;
  const char *alias = NULL;
  char *at = strchr(spec, '@'), *colon = strchr(spec, ':');
  if (at) {
    *at = 0;
    alias = at + 1;
  } else if (colon) {
    *colon = 0;
    if (me_parse_version(colon + 1, &version, &err) != 0) {
      fprintf(stderr, "model_execution_shim: --preload %s: %s\n", spec, err.msg);
      return -1;
    }
  }
  me_model *m = me_check_name(spec, &err) == 0 ? me_service_load(svc, spec, version, alias, &err) : NULL;
  if (!m) {
    fprintf(stderr, "model_execution_shim: --preload %s: %s: %s\n", spec, shimkit_code_name(err.code),
            err.msg);
    return -1;
  }
  fprintf(stderr, "model_execution_shim: loaded %s version %llu (%s)\n", m->name,
          (unsigned long long)m->version, m->rt->framework);
  me_model_release(svc->models, m);
  return 0;
}

/* shim_cli's check: --model-repository given, --max-models in range (exit 2 otherwise). */
static int check(void *ctx) {
  me_shim *shim = ctx;
  if (!shim->repo || !shim->repo[0]) {
    fprintf(stderr,
            "model_execution_shim: --model-repository HOST:PORT is required (models are fetched there)\n");
    return -1;
  }
  char *end;
  unsigned long max = strtoul(shim->max_models, &end, 10);
  if (!shim->max_models[0] || *end || shim->max_models[0] == '-' || max < 1 || max > 1024) {
    fprintf(stderr, "model_execution_shim: --max-models must be a number from 1 to 1024, not \"%s\"\n",
            shim->max_models);
    return -1;
  }
  shim->max_loaded = max;
  return 0;
}

static shimkit_code setup(shimkit_server *srv, void *ctx) {
  me_shim *shim = ctx;
  me_service *svc = &shim->svc;
  svc->repo_addr = shim->repo;
  svc->tmp_dir = shim->tmp_dir[0] ? shim->tmp_dir : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  svc->runtimes = me_runtimes;
  svc->n_runtimes = sizeof me_runtimes / sizeof me_runtimes[0];
  svc->repo = shimkit_channel_new(shim->repo, NULL, 0);
  svc->models = me_models_new(shim->max_loaded);
  if (!svc->repo || !svc->models || pthread_mutex_init(&svc->load_mu, NULL) != 0) {
    fprintf(stderr, "model_execution_shim: cannot create the repository channel or the model table\n");
    return SHIMKIT_INTERNAL;
  }
  if (!shim->preload[0])
    snprintf(shim->preload, sizeof shim->preload, "%s", shim->preload_opt); /* from --config */
  for (char *save = NULL, *spec = strtok_r(shim->preload, ",", &save); spec;
       spec = strtok_r(NULL, ",", &save))
    if (spec[0] && me_preload_one(svc, spec) != 0) return SHIMKIT_FAILED_PRECONDITION;
  return inference__grpcinference_service__shimkit_register(srv, &me_handlers, svc);
}

static void teardown(void *ctx) {
  me_shim *shim = ctx;
  me_models_free(shim->svc.models);
  shimkit_channel_free(shim->svc.repo);
  if (shim->svc.runtimes) pthread_mutex_destroy(&shim->svc.load_mu);
  memset(&shim->svc, 0, sizeof shim->svc);
}

/* --preload may repeat: shim_cli keeps the last value, so collect each one from argv first. */
static int me_collect_preload(me_shim *shim, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    if (strcmp(argv[i], "--preload") == 0 && i + 1 < argc)
      v = argv[i + 1];
    else if (strncmp(argv[i], "--preload=", 10) == 0)
      v = argv[i] + 10;
    if (!v) continue;
    size_t used = strlen(shim->preload);
    if (used + strlen(v) + 2 > sizeof shim->preload) {
      fprintf(stderr, "model_execution_shim: --preload lists are longer than %d bytes\n", ME_PRELOAD_MAX);
      return -1;
    }
    snprintf(shim->preload + used, sizeof shim->preload - used, "%s%s", used ? "," : "", v);
  }
  return 0;
}

int main(int argc, char **argv) {
  static me_shim shim = {.repo = "", .max_models = "16", .tmp_dir = "", .preload_opt = ""};
  const shim_cli_option options[] = {
      {"model-repository", "HOST:PORT", "ModelRepository shim that models are fetched from (required)",
       &shim.repo},
      {"preload", "NAME[:VERSION|@ALIAS]", "model loaded before serving; repeat or give a comma list",
       &shim.preload_opt},
      {"max-models", "N", "models loaded at once; more is RESOURCE_EXHAUSTED (default 16)", &shim.max_models},
      {"tmp-dir", "DIR", "directory for artifacts before loading (default $TMPDIR or /tmp)", &shim.tmp_dir},
      {0},
  };
  const shim_cli_program program = {
      .name = "model_execution_shim",
      .summary =
          "Serves the Open Inference Protocol (inference.GRPCInferenceService, KServe v2) over models\n"
          "fetched from a ModelRepository and run by the runtime their framework names\n"
          "(" ME_RUNTIME_NAMES "), with the repository extension, gRPC health checking and server\n"
          "reflection. There is no --backend: every runtime is built in.",
      .options = options,
      .check = check,
      .setup = setup,
      .teardown = teardown,
      .ctx = &shim,
  };
  if (me_collect_preload(&shim, argc, argv) != 0) return 2;
  return shim_cli_main(&program, argc, argv);
}
