/*
 * k8s_tool.c - renders the kubernetes environment's manifests for a fixed
 * three-set stack (env_kubernetes.c), for tests/kubernetes/run.sh, which
 * checks them with the Kubernetes API types. Arguments with YAML-hostile
 * characters are in on purpose: quoting must keep them single strings.
 * The sets use every policy (training hashes on a field, feature_store on
 * a metadata key) so the router's sets file carries each kind of line.
 *
 *   shimctl_k8s_tool render DIR   writes the manifests into DIR
 *   shimctl_k8s_tool sets FILE    writes the router's sets file alone (for
 *                                 a test that the router reads it)
 *   shimctl_k8s_tool apply DIR    kubectl apply (exit 3 when no context)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_kubernetes.h"

static const char *const echo_args[] = {"--name", "echo: \"k8s\" # not a comment", NULL};
static const char *const fs_args[] = {"--db", "/data/feature_store.db", "--drain-grace-ms", "20000", NULL};
static const char *const tr_args[] = {"--model-repository", "ml-model-repository-fs:50120", "--max-jobs", "2",
                                      NULL};
/* policy numbers: 0 round_robin, 1 least_outstanding, 2 hash (shimctl_policy) */
static const shimctl_k8s_set sets[] = {
    {"ml", "echo", "builtin", "echo-builtin", "shimkit/echo-builtin:dev", echo_args, 50110, 2, 0,
     {"echo-builtin", "shimkit.examples.v1.Echo", 0, "", "", 100, false}},
    {"ml", "feature_store", "sqlite", "feature_store-sqlite", "shimkit/feature_store-sqlite:dev", fs_args, 50130, 1,
     20000, {"feature_store-sqlite", "shimkit.ml.v1.FeatureStore", 2, "", "x-entity", 100, false}},
    {"ml", "training", "liblinear", "training-liblinear", "shimkit/training-liblinear:dev", tr_args, 50140, 3, 5000,
     {"training-liblinear", "shimkit.ml.v1.Training", 2, "model_name", "", 100, true}},
};
#define N_SETS (sizeof sets / sizeof sets[0])

int main(int argc, char **argv) {
  char err[1024];
  if (argc == 3 && strcmp(argv[1], "sets") == 0) {
    size_t len = 0;
    char *text = shimctl_k8s_router_sets(sets, N_SETS, &len, err, sizeof err);
    FILE *f = text != NULL ? fopen(argv[2], "w") : NULL;
    if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
      fprintf(stderr, "shimctl_k8s_tool: %s\n", text == NULL ? err : "cannot write the sets file");
      free(text);
      return 1;
    }
    free(text);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "render") == 0) {
    shimctl_k8s_router router = {"shimkit/router-shimkit:dev", NULL, 50100, 0};
    if (shimctl_k8s_write(argv[2], sets, N_SETS, &router, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl_k8s_tool: %s\n", err);
      return 1;
    }
    printf("shimctl_k8s_tool: manifests in %s\n", argv[2]);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "apply") == 0) {
    int rc = shimctl_k8s_apply(argv[2], stdout, err, sizeof err);
    if (rc != 0) fprintf(stderr, "shimctl_k8s_tool: %s\n", err);
    return rc == 0 ? 0 : rc == 1 ? 3 : 1;
  }
  fprintf(stderr, "usage: shimctl_k8s_tool render DIR | sets FILE | apply DIR\n");
  return 2;
}
