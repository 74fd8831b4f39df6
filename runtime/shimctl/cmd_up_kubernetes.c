/*
 * cmd_up_kubernetes.c - shimctl up for environment: kubernetes. Nothing is
 * supervised from here: each service becomes a Deployment + Service
 * (env_kubernetes.c), the router one more, written to
 * <state_dir>/<stack>/kubernetes/ and applied with kubectl when it has a
 * context. Without one, the manifests are written, nothing is applied, and
 * up fails saying so.
 *
 * Sets are made as for the other environments (shimctl_make_set: the
 * implementation flag, config, implementation config), with two changes
 * for a cluster: an argument naming the router's local address (the flags
 * that point at another service of the stack) names the router's Service
 * instead, and every replica listens on the service's port (its own pod),
 * the image's port when the stack gives none.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_kubernetes.h"
#include "image.h"
#include "shimctl.h"

int shimctl_up_kubernetes(const shimctl_opts *o, const shimctl_stack *stack) {
  int rc = SHIMCTL_EXIT_FAIL;
  shimctl_state *st = shimctl_state_new();
  shimctl_k8s_set *ks = calloc(SHIMCTL_MAX_SERVICES, sizeof *ks);
  /* Argument arrays (pointers into st's sets) and the router-address replacement. */
  const char *(*argvs)[SHIMCTL_MAX_ARGS + 1] = calloc(SHIMCTL_MAX_SERVICES, sizeof *argvs);
  char (*images)[512] = calloc(SHIMCTL_MAX_SERVICES + 1, sizeof *images);
  if (st == NULL || ks == NULL || argvs == NULL || images == NULL) {
    fprintf(stderr, "shimctl: out of memory\n");
    goto out;
  }
  char dir[SHIMCTL_PATH], mdir[SHIMCTL_PATH + 16], router_name[64], router_addr[96];
  shimctl_state_dir(stack, dir, sizeof dir);
  snprintf(mdir, sizeof mdir, "%s/kubernetes", dir);
  int router_port = shimctl_addr_port(stack->router_listen);
  if (shimctl_k8s_name(stack->name, "router", router_name, sizeof router_name) != 0) {
    fprintf(stderr, "shimctl: stack name %s does not make Kubernetes names (letters, digits, -)\n", stack->name);
    goto out;
  }
  snprintf(router_addr, sizeof router_addr, "%s:%d", router_name, router_port);
  const char *tag = shimctl_image_tag();

  size_t n = 0;
  for (size_t i = 0; i < stack->n_services; i++) {
    const shimctl_service_spec *svc = &stack->services[i];
    /* One set per service, each in its own pods: the state stays empty (no
     * port is shared), and the local ports make_set picks are not used. */
    shimctl_set *set = &st->sets[n];
    char err[512];
    int port = svc->port > 0 ? svc->port : SHIMCTL_IMAGE_PORT;
    if (shimctl_make_set(o, stack, st, svc, svc->implementation, 0, 100, set, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl: %s\n", err);
      goto out;
    }
    for (int a = 0; a < set->n_args; a++) {
      argvs[n][a] = strcmp(set->args[a], stack->router_listen) == 0 ? router_addr : set->args[a];
    }
    argvs[n][set->n_args] = NULL;
    if (shimctl_image_ref(set->kind, set->impl, tag, images[n], sizeof images[n]) != 0) {
      fprintf(stderr, "shimctl: %s-%s:%s is not an image reference\n", set->kind, set->impl, tag);
      goto out;
    }
    ks[n] = (shimctl_k8s_set){
        .stack = stack->name,
        .service = set->kind,
        .implementation = set->impl,
        .set = set->name,
        .image = images[n],
        .args = argvs[n],
        .port = port,
        .replicas = set->replicas,
        .drain_grace_ms = set->drain_grace_ms,
    };
    n++;
  }
  /* The router keeps its sets in a state file on its /data volume; they are
   * given to it through RouterAdmin (docs/environments.md). */
  static const char *const router_args[] = {"--state", "/data/router.state", NULL};
  shimctl_image_ref("router", "shimkit", tag, images[n], sizeof images[n]);
  shimctl_k8s_router router = {images[n], router_args, router_port, 0};
  char err[1024];
  if (shimctl_k8s_write(mdir, ks, n, &router, err, sizeof err) != 0) {
    fprintf(stderr, "shimctl: %s\n", err);
    goto out;
  }
  shimctl_say("kubernetes: %zu sets and the router rendered into %s", n, mdir);
  int ar = shimctl_k8s_apply(mdir, stdout, err, sizeof err);
  if (ar != 0) {
    fprintf(stderr, "shimctl: %s\n", err);
    goto out;
  }
  shimctl_say("kubernetes: applied (kubectl get deploy -l app.kubernetes.io/part-of=%s)", stack->name);
  rc = SHIMCTL_EXIT_OK;
out:
  free(images);
  free(argvs);
  free(ks);
  free(st);
  return rc;
}
