/*
 * catalog.c - the table of service kinds (see catalog.h). The program
 * names are the build targets of services/; the implementations are the
 * values each shim's --backend accepts.
 */
#include "catalog.h"

#include <stdio.h>
#include <string.h>

static const char *const echo_impls[] = {"builtin", NULL};
static const char *const mr_impls[] = {"fs", "postgres", NULL};
static const char *const fs_impls[] = {"sqlite", "redis", NULL};
static const char *const tr_impls[] = {"liblinear", "libsvm", "xgboost", NULL};
static const char *const me_impls[] = {"oip", NULL};
static const char *const no_flags[] = {NULL};
static const char *const tr_flags[] = {"model-repository", "feature-store", NULL};
static const char *const me_flags[] = {"model-repository", NULL};

const shimctl_kind shimctl_kinds[] = {
    {"echo", "echo_shim", "shimkit.examples.v1.Echo", echo_impls, NULL, false, no_flags, false},
    {"model_repository", "model_repository_shim", "shimkit.ml.v1.ModelRepository", mr_impls, "backend", true,
     no_flags, false},
    {"feature_store", "feature_store_shim", "shimkit.ml.v1.FeatureStore", fs_impls, "backend", true, no_flags,
     false},
    /* A job lives on the replica that ran it: GetJob, WatchJob and CancelJob must find that one. */
    {"training", "training_shim", "shimkit.ml.v1.Training", tr_impls, "backend", false, tr_flags, true},
    {"model_execution", "model_execution_shim", "inference.GRPCInferenceService", me_impls, NULL, false, me_flags,
     false},
    {NULL, NULL, NULL, NULL, NULL, false, NULL, false},
};

const shimctl_kind *shimctl_kind_find(const char *name) {
  for (const shimctl_kind *k = shimctl_kinds; name != NULL && k->name != NULL; k++) {
    if (strcmp(k->name, name) == 0) {
      return k;
    }
  }
  return NULL;
}

bool shimctl_kind_has_impl(const shimctl_kind *kind, const char *impl) {
  for (const char *const *i = kind->impls; impl != NULL && *i != NULL; i++) {
    if (strcmp(*i, impl) == 0) {
      return true;
    }
  }
  return false;
}

void shimctl_kind_impl_list(const shimctl_kind *kind, char *buf, int len) {
  int off = 0;
  buf[0] = '\0';
  for (const char *const *i = kind->impls; *i != NULL && off < len; i++) {
    off += snprintf(buf + off, (size_t)(len - off), "%s%s", i == kind->impls ? "" : ", ", *i);
  }
}
