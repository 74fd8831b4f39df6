/*
 * cmd_up_kubernetes.c - shimctl up, scale and down for environment:
 * kubernetes. Nothing is supervised from here: each service becomes a
 * Deployment + Service + headless Service (env_kubernetes.c), the router a
 * Deployment + Service + the ConfigMap of its sets (one per service, as
 * ApplySet describes them in the other environments: route.h; the replicas
 * are the ready pods behind the set's headless Service, found by DNS),
 * written to <state_dir>/<stack>/kubernetes/ and applied with kubectl when
 * it has a context. Without one, the manifests are written, nothing is
 * applied, and the command fails saying so.
 *
 *   up      renders every set and the router (removing files of sets the
 *           stack no longer has), kubectl apply -f on the folder, then
 *           deletes the stack's sets that are no longer rendered (a changed
 *           implementation: the new set is applied first, the old one
 *           deleted after it; the router's sets changed with it, so its
 *           pod template's checksum did and Kubernetes rolls the router)
 *   scale   renders the service's set again with the new replica count into
 *           its file and applies that file (only a set the last up wrote)
 *   down    kubectl delete of the stack's Deployments, Services and ConfigMaps (by
 *           label), then the manifests folder is removed
 *
 * Sets are made as for the other environments (shimctl_make_set: the
 * implementation flag, config, implementation config), with two changes
 * for a cluster: an argument naming the router's local address (the flags
 * that point at another service of the stack) names the router's Service
 * instead, and every replica listens on the service's port (its own pod),
 * the image's port when the stack gives none.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env_kubernetes.h"
#include "image.h"
#include "route.h"
#include "shimctl.h"

/* The stack's sets as Kubernetes sees them; the strings live here. */
typedef struct k8s_stack {
  shimctl_state *st;
  size_t n;
  shimctl_k8s_set ks[SHIMCTL_MAX_SERVICES];
  const char *names[SHIMCTL_MAX_SERVICES]; /* set names (shimkit.io/set) */
  const char *argvs[SHIMCTL_MAX_SERVICES][SHIMCTL_MAX_ARGS + 1];
  char images[SHIMCTL_MAX_SERVICES + 1][512];
  char dir[SHIMCTL_PATH], mdir[SHIMCTL_PATH + 16];
  char router_name[64], router_addr[96];
  int router_port;
} k8s_stack;

static void k8s_free(k8s_stack *k) {
  if (k != NULL) {
    free(k->st);
    free(k);
  }
}

/*
 * Makes the sets of the stack's services (only the service named only, when
 * not NULL, with replicas when > 0). NULL with the reason printed.
 */
static k8s_stack *k8s_make(const shimctl_opts *o, const shimctl_stack *stack, const char *only, int replicas) {
  k8s_stack *k = calloc(1, sizeof *k);
  if (k == NULL || (k->st = shimctl_state_new()) == NULL) {
    fprintf(stderr, "shimctl: out of memory\n");
    k8s_free(k);
    return NULL;
  }
  shimctl_state_dir(stack, k->dir, sizeof k->dir);
  snprintf(k->mdir, sizeof k->mdir, "%s/kubernetes", k->dir);
  k->router_port = shimctl_addr_port(stack->router_listen);
  if (shimctl_k8s_name(stack->name, "router", k->router_name, sizeof k->router_name) != 0) {
    fprintf(stderr, "shimctl: stack name %s does not make Kubernetes names (letters, digits, -)\n", stack->name);
    k8s_free(k);
    return NULL;
  }
  snprintf(k->router_addr, sizeof k->router_addr, "%s:%d", k->router_name, k->router_port);
  const char *tag = shimctl_image_tag();
  for (size_t i = 0; i < stack->n_services; i++) {
    const shimctl_service_spec *svc = &stack->services[i];
    if (only != NULL && strcmp(svc->kind->name, only) != 0) {
      continue;
    }
    /* One set per service, each in its own pods: the state stays empty (no
     * port is shared), and the local ports make_set picks are not used. */
    size_t n = k->n;
    shimctl_set *set = &k->st->sets[n];
    char err[512];
    int port = svc->port > 0 ? svc->port : SHIMCTL_IMAGE_PORT;
    if (shimctl_make_set(o, stack, k->st, svc, svc->implementation, 0, 100, set, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl: %s\n", err);
      k8s_free(k);
      return NULL;
    }
    for (int a = 0; a < set->n_args; a++) {
      k->argvs[n][a] = strcmp(set->args[a], stack->router_listen) == 0 ? k->router_addr : set->args[a];
    }
    k->argvs[n][set->n_args] = NULL;
    if (shimctl_image_ref(set->kind, set->impl, tag, k->images[n], sizeof k->images[n]) != 0) {
      fprintf(stderr, "shimctl: %s-%s:%s is not an image reference\n", set->kind, set->impl, tag);
      k8s_free(k);
      return NULL;
    }
    k->ks[n] = (shimctl_k8s_set){
        .stack = stack->name,
        .service = set->kind,
        .implementation = set->impl,
        .set = set->name,
        .image = k->images[n],
        .args = k->argvs[n],
        .port = port,
        .replicas = replicas > 0 ? replicas : set->replicas,
        .drain_grace_ms = set->drain_grace_ms,
    };
    if (shimctl_route_of(set, set->weight, &k->ks[n].route) != 0) {
      fprintf(stderr, "shimctl: set %s: unknown kind %s\n", set->name, set->kind);
      k8s_free(k);
      return NULL;
    }
    k->names[n] = set->name;
    k->n++;
  }
  return k;
}

/* Removes the .yaml files of dir (shimctl's own folder of manifests). */
static void remove_manifests(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len > 5 && strcmp(e->d_name + len - 5, ".yaml") == 0) {
      char path[SHIMCTL_PATH + 300];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
  }
  closedir(d);
}

int shimctl_up_kubernetes(const shimctl_opts *o, const shimctl_stack *stack) {
  k8s_stack *k = k8s_make(o, stack, NULL, 0);
  if (k == NULL) {
    return SHIMCTL_EXIT_FAIL;
  }
  int rc = SHIMCTL_EXIT_FAIL;
  /* The router reads its sets from the ConfigMap rendered with it
   * (--sets-file, never written): one per set, its replicas by DNS. */
  shimctl_image_ref("router", "shimkit", shimctl_image_tag(), k->images[k->n], sizeof k->images[k->n]);
  shimctl_k8s_router router = {k->images[k->n], NULL, k->router_port, 0};
  char err[4096];
  /* The folder holds exactly this render: a set the stack no longer has
   * (another implementation) is not applied again by kubectl apply -f. */
  remove_manifests(k->mdir);
  if (shimctl_k8s_write(k->mdir, k->ks, k->n, &router, err, sizeof err) != 0) {
    fprintf(stderr, "shimctl: %s\n", err);
    goto out;
  }
  shimctl_say("kubernetes: %zu sets and the router rendered into %s", k->n, k->mdir);
  fflush(stdout);
  if (shimctl_k8s_apply(k->mdir, stdout, err, sizeof err) != 0) {
    fprintf(stderr, "shimctl: %s\n", err);
    goto out;
  }
  /* Sets of an earlier up that this one did not render go now, after the
   * new ones were applied. */
  fflush(stdout);
  if (shimctl_k8s_delete(stack->name, k->names, k->n, o->timeout_ms / 1000, stdout, err, sizeof err) != 0) {
    fprintf(stderr, "shimctl: %s\n", err);
    goto out;
  }
  shimctl_say("kubernetes: applied (kubectl get deploy -l app.kubernetes.io/part-of=%s)", stack->name);
  rc = SHIMCTL_EXIT_OK;
out:
  k8s_free(k);
  return rc;
}

int shimctl_scale_kubernetes(const shimctl_opts *o, const shimctl_stack *stack, const char *service, int n) {
  k8s_stack *k = k8s_make(o, stack, service, n);
  if (k == NULL) {
    return SHIMCTL_EXIT_FAIL;
  }
  int rc = SHIMCTL_EXIT_FAIL;
  char err[4096], name[64], file[SHIMCTL_PATH + 100];
  struct stat sb;
  if (k->n == 0) {
    fprintf(stderr, "shimctl scale: stack %s has no service %s\n", stack->name, service);
    goto out;
  }
  if (stat(k->mdir, &sb) != 0) {
    fprintf(stderr, "shimctl scale: stack %s is not up (no manifests in %s); run shimctl up\n", stack->name, k->mdir);
    goto out;
  }
  if (shimctl_k8s_name(stack->name, k->names[0], name, sizeof name) != 0) {
    fprintf(stderr, "shimctl scale: %s-%s does not make a Kubernetes name\n", stack->name, k->names[0]);
    goto out;
  }
  snprintf(file, sizeof file, "%s/%s.yaml", k->mdir, name);
  if (stat(file, &sb) != 0) {
    /* The stack file names another implementation than the last up applied:
     * scaling it would add a set beside the running one. */
    fprintf(stderr, "shimctl scale: %s was not deployed by the last shimctl up (no %s); run shimctl up first\n",
            k->names[0], file);
    goto out;
  }
  if (shimctl_k8s_ready(k->mdir, err, sizeof err) != 0) {
    fprintf(stderr, "shimctl scale: %s\n", err);
    goto out;
  }
  if (shimctl_k8s_write(k->mdir, k->ks, 1, NULL, err, sizeof err) != 0) {
    fprintf(stderr, "shimctl scale: %s\n", err);
    goto out;
  }
  fflush(stdout);
  if (shimctl_k8s_apply(file, stdout, err, sizeof err) != 0) {
    fprintf(stderr, "shimctl scale: %s\n", err);
    goto out;
  }
  shimctl_say("%s: %d replica%s (deployment/%s; kubectl rollout status deployment/%s waits for them)", k->names[0], n,
              n == 1 ? "" : "s", name, name);
  rc = SHIMCTL_EXIT_OK;
out:
  k8s_free(k);
  return rc;
}

int shimctl_down_kubernetes(const shimctl_opts *o, const shimctl_stack *stack) {
  char dir[SHIMCTL_PATH], mdir[SHIMCTL_PATH + 16], err[4096];
  shimctl_state_dir(stack, dir, sizeof dir);
  snprintf(mdir, sizeof mdir, "%s/kubernetes", dir);
  int ready = shimctl_k8s_ready(mdir, err, sizeof err);
  if (ready != 0) {
    fprintf(stderr, "shimctl down: %s\n",
            ready == 1 ? "kubectl has no current context (no cluster configured): nothing deleted" : err);
    return SHIMCTL_EXIT_FAIL;
  }
  int64_t t0 = shimctl_mono_ms();
  shimctl_say("stack %s: deleting its Deployments, Services and ConfigMap (kubectl delete -l app.kubernetes.io/part-of=%s)",
              stack->name, stack->name);
  fflush(stdout);
  if (shimctl_k8s_delete(stack->name, NULL, 0, o->timeout_ms / 1000, stdout, err, sizeof err) != 0) {
    fprintf(stderr, "shimctl down: %s\n", err);
    return SHIMCTL_EXIT_FAIL;
  }
  remove_manifests(mdir);
  rmdir(mdir);
  rmdir(dir); /* only when nothing else is in it */
  shimctl_say("stack %s is down (%.1f s); %s removed", stack->name, (double)(shimctl_mono_ms() - t0) / 1000.0, mdir);
  return SHIMCTL_EXIT_OK;
}
