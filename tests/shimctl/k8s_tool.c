/*
 * k8s_tool.c - renders the kubernetes environment's manifests for a fixed
 * three-set stack (env_kubernetes.c), for tests/kubernetes/run.sh, which
 * checks them with the Kubernetes API types. Arguments with YAML-hostile
 * characters are in on purpose: quoting must keep them single strings.
 *
 *   shimctl_k8s_tool render DIR   writes the manifests into DIR
 *   shimctl_k8s_tool apply DIR    kubectl apply (exit 3 when no context)
 */
#include <stdio.h>
#include <string.h>

#include "env_kubernetes.h"

int main(int argc, char **argv) {
  char err[1024];
  if (argc == 3 && strcmp(argv[1], "render") == 0) {
    static const char *const echo_args[] = {"--name", "echo: \"k8s\" # not a comment", NULL};
    static const char *const fs_args[] = {"--db", "/data/feature_store.db", "--drain-grace-ms", "20000", NULL};
    static const char *const tr_args[] = {"--model-repository", "ml-model-repository-fs:50120", "--max-jobs", "2",
                                          NULL};
    static const char *const router_args[] = {"--backend", "ml-echo-builtin:50110", NULL};
    shimctl_k8s_set sets[] = {
        {"ml", "echo", "builtin", "echo-builtin", "shimkit/echo-builtin:dev", echo_args, 50110, 2, 0},
        {"ml", "feature_store", "sqlite", "feature_store-sqlite", "shimkit/feature_store-sqlite:dev", fs_args, 50130,
         1, 20000},
        {"ml", "training", "liblinear", "training-liblinear", "shimkit/training-liblinear:dev", tr_args, 50140, 3,
         5000},
    };
    shimctl_k8s_router router = {"shimkit/router-shimkit:dev", router_args, 50100, 0};
    if (shimctl_k8s_write(argv[2], sets, sizeof sets / sizeof sets[0], &router, err, sizeof err) != 0) {
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
  fprintf(stderr, "usage: shimctl_k8s_tool render|apply DIR\n");
  return 2;
}
