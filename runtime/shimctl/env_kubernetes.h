/*
 * env_kubernetes.h - the "kubernetes" environment: for when one machine is
 * not enough. A set becomes a Deployment (its replicas, the implementation's
 * image, grpc.health.v1 readiness and liveness probes, resources, a
 * termination grace period longer than the shim's drain), a ClusterIP
 * Service and a headless Service (its ready pods' addresses in DNS). The
 * router gets its sets from a ConfigMap (its --sets-file: each set's
 * backend is dns:<headless Service>:<port>). The manifests are written to a
 * folder and applied with kubectl when kubectl has a current context.
 * docs/environments.md shows the output.
 */
#ifndef SHIMCTL_ENV_KUBERNETES_H
#define SHIMCTL_ENV_KUBERNETES_H

#include <stddef.h>
#include <stdio.h>

#include "route.h"

/* One set as Kubernetes sees it. Strings are borrowed for the call. */
typedef struct shimctl_k8s_set {
  const char *stack;          /* "ml": label app.kubernetes.io/part-of, name prefix */
  const char *service;        /* "feature_store": label app.kubernetes.io/name */
  const char *implementation; /* "sqlite": label app.kubernetes.io/component */
  const char *set;            /* "feature_store-sqlite": label shimkit.io/set */
  const char *image;          /* "shimkit/feature_store-sqlite:dev" */
  const char *const *args;    /* shim arguments, NULL-terminated, without --listen; may be NULL */
  int port;                   /* container port, Service port, probe port */
  int replicas;               /* >= 1 */
  int drain_grace_ms;         /* the shim's --drain-grace-ms (0: the shim's default, 10 s) */
  shimctl_route route;        /* how the router routes to it (route.set: the router's set name) */
} shimctl_k8s_set;

/* The router's ConfigMap + Deployment + Service (optional: render only with an image). */
typedef struct shimctl_k8s_router {
  const char *image;       /* "shimkit/router-shimkit:dev" */
  const char *const *args; /* router arguments without --listen and --sets-file; may be NULL */
  int port;                /* the clients' one port */
  int drain_grace_ms;
} shimctl_k8s_router;

/*
 * Kubernetes object name of a set, "<stack>-<set>" in DNS-1035 form ('_'
 * and '.' become '-', lower case), into buf. 0, or -1 when the result is
 * empty, longer than 63 or does not start with a letter.
 */
int shimctl_k8s_name(const char *stack, const char *set, char *buf, size_t len);

/* Name of a set's headless Service, "<stack>-<set>-pods" (as shimctl_k8s_name). 0 or -1. */
int shimctl_k8s_headless_name(const char *stack, const char *set, char *buf, size_t len);

/* Where the router's pods find their sets file (the ConfigMap's key, mounted read-only). */
#define SHIMCTL_K8S_SETS_DIR "/etc/shimkit"
#define SHIMCTL_K8S_SETS_KEY "router.sets"
/* The router's pod template annotation: the sets file's SHA-256, so a change rolls the router. */
#define SHIMCTL_K8S_SETS_ANNOTATION "shimkit.io/sets-sha256"

/* Writes the set's Deployment, Service and headless Service as YAML documents to out. 0, or -1 with a reason in err. */
int shimctl_k8s_render_set(const shimctl_k8s_set *s, FILE *out, char *err, size_t errlen);

/*
 * The router's sets file for sets[0..n) (router_sets.h): set i as its route
 * says, its one backend dns:<its headless Service>:<its port> (the short
 * name: the router runs in the same namespace). malloc'd text (*len bytes),
 * or NULL with a reason in err.
 */
char *shimctl_k8s_router_sets(const shimctl_k8s_set *sets, size_t n, size_t *len, char *err, size_t errlen);

/*
 * Writes the router's ConfigMap (sets, the text of its sets file), its
 * Deployment (the ConfigMap mounted read-only, --sets-file, the text's
 * SHA-256 as a pod template annotation) and Service to out. 0, or -1 with
 * a reason in err.
 */
int shimctl_k8s_render_router(const char *stack, const shimctl_k8s_router *r, const char *sets, FILE *out,
                              char *err, size_t errlen);

/*
 * Writes one file per set (<dir>/<name>.yaml) and, when router is not NULL,
 * <dir>/<stack>-router.yaml with the router's sets file made from sets
 * (shimctl_k8s_router_sets); creates dir. 0, or -1 with a reason in err.
 */
int shimctl_k8s_write(const char *dir, const shimctl_k8s_set *sets, size_t n, const shimctl_k8s_router *router,
                      char *err, size_t errlen);

/*
 * Whether kubectl can reach a cluster: 0 when kubectl is in PATH and has a
 * current context; 1 when it has none, -1 when kubectl is missing (err
 * says so and that the manifests are in dir).
 */
int shimctl_k8s_ready(const char *dir, char *err, size_t errlen);

/*
 * Applies every manifest in dir (or the one file dir names) with
 * `kubectl apply -f dir`, its output to out. Returns 0 when applied, 1 when
 * kubectl has no current context (err says so and where the manifests are:
 * nothing was applied), -1 when kubectl is missing or apply failed (reason
 * in err).
 */
int shimctl_k8s_apply(const char *dir, FILE *out, char *err, size_t errlen);

/*
 * Deletes the Deployments, Services and ConfigMaps shimctl wrote for stack (labels
 * app.kubernetes.io/part-of=<stack>, app.kubernetes.io/managed-by=shimctl)
 * with `kubectl delete --wait --timeout=<timeout_s>s`, its output to out.
 * keep == NULL: all of them, the router's too. Otherwise only sets' objects
 * whose shimkit.io/set is none of keep[0..n_keep) (the router stays): what
 * a new `up` no longer renders. Nothing found is not an error. 0, or -1
 * with a reason in err. Call shimctl_k8s_ready first.
 */
int shimctl_k8s_delete(const char *stack, const char *const *keep, size_t n_keep, int timeout_s, FILE *out,
                       char *err, size_t errlen);

#endif /* SHIMCTL_ENV_KUBERNETES_H */
