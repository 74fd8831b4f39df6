/*
 * env_kubernetes.h - the "kubernetes" environment: for when one machine is
 * not enough. A set becomes a Deployment (its replicas, the implementation's
 * image, grpc.health.v1 readiness and liveness probes, resources, a
 * termination grace period longer than the shim's drain) and a ClusterIP
 * Service; the manifests are written to a folder and applied with kubectl
 * when kubectl has a current context. docs/environments.md shows the output.
 */
#ifndef SHIMCTL_ENV_KUBERNETES_H
#define SHIMCTL_ENV_KUBERNETES_H

#include <stddef.h>
#include <stdio.h>

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
} shimctl_k8s_set;

/* The router's Deployment + Service (optional: render only with an image). */
typedef struct shimctl_k8s_router {
  const char *image;       /* "shimkit/router-shimkit:dev" */
  const char *const *args; /* router arguments without --listen; may be NULL */
  int port;                /* the clients' one port */
  int drain_grace_ms;
} shimctl_k8s_router;

/*
 * Kubernetes object name of a set, "<stack>-<set>" in DNS-1035 form ('_'
 * and '.' become '-', lower case), into buf. 0, or -1 when the result is
 * empty, longer than 63 or does not start with a letter.
 */
int shimctl_k8s_name(const char *stack, const char *set, char *buf, size_t len);

/* Writes the set's Deployment and Service as two YAML documents to out. 0, or -1 with a reason in err. */
int shimctl_k8s_render_set(const shimctl_k8s_set *s, FILE *out, char *err, size_t errlen);

/* Writes the router's Deployment and Service to out. 0, or -1 with a reason in err. */
int shimctl_k8s_render_router(const char *stack, const shimctl_k8s_router *r, FILE *out, char *err, size_t errlen);

/*
 * Writes one file per set (<dir>/<name>.yaml) and, when router is not NULL,
 * <dir>/<stack>-router.yaml; creates dir. 0, or -1 with a reason in err.
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
 * Deletes the Deployments and Services shimctl wrote for stack (labels
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
