/*
 * env_kubernetes.c - Deployment + Service + headless Service manifests per
 * set, the router's ConfigMap + Deployment + Service, and kubectl.
 *
 * Every string scalar is written as a double-quoted YAML string with
 * escapes (yaml_str), so no argument, image or label can change the
 * document's structure, whatever characters it holds ("yes", "0x1", ": ",
 * "#", quotes, newlines). Numbers are written as numbers. The checker in
 * tests/kubernetes decodes these files with the k8s.io/api types, strictly.
 */
#define _POSIX_C_SOURCE 200809L
#include "env_kubernetes.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "env.h"
#include "router_sets.h"
#include "runcmd.h"
#include "sha256.h"

/* Seconds Kubernetes waits after SIGTERM beyond the shim's drain grace. */
#define GRACE_MARGIN_S 5
/* The shim's drain grace when none is given (shim_cli's default). */
#define DEFAULT_DRAIN_MS 10000
/* Router arguments beyond --listen, --drain-grace-ms and --sets-file. */
#define K8S_ROUTER_MAX_ARGS 32

/* Writes s as a double-quoted YAML scalar. */
static void yaml_str(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    switch (*p) {
      case '"': fputs("\\\"", out); break;
      case '\\': fputs("\\\\", out); break;
      case '\n': fputs("\\n", out); break;
      case '\t': fputs("\\t", out); break;
      case '\r': fputs("\\r", out); break;
      default:
        if (*p < 0x20 || *p == 0x7f) fprintf(out, "\\x%02x", *p);
        else fputc(*p, out);
    }
  }
  fputc('"', out);
}

int shimctl_k8s_name(const char *stack, const char *set, char *buf, size_t len) {
  char tmp[256];
  int n = snprintf(tmp, sizeof tmp, "%s-%s", stack, set);
  if (n < 0 || (size_t)n >= sizeof tmp || n > 63 || (size_t)n >= len) return -1;
  for (int i = 0; i < n; i++) {
    unsigned char c = (unsigned char)tmp[i];
    if (c == '_' || c == '.') c = '-';
    else c = (unsigned char)tolower(c);
    if (!(isalnum(c) || c == '-') || c > 0x7e) return -1;
    buf[i] = (char)c;
  }
  buf[n] = '\0';
  if (!isalpha((unsigned char)buf[0]) || buf[n - 1] == '-') return -1;
  return 0;
}

int shimctl_k8s_headless_name(const char *stack, const char *set, char *buf, size_t len) {
  char name[64];
  if (shimctl_k8s_name(stack, set, name, sizeof name) != 0) return -1;
  int n = snprintf(buf, len, "%s-pods", name);
  return n < 0 || (size_t)n >= len || n > 63 ? -1 : 0;
}

/* A label value: at most 63 of [A-Za-z0-9_.-], alphanumeric at both ends. */
static int label_ok(const char *v) {
  size_t n = strlen(v);
  if (n == 0 || n > 63) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '_' && v[i] != '.') return 0;
  return isalnum((unsigned char)v[0]) && isalnum((unsigned char)v[n - 1]);
}

static int grace_seconds(int drain_ms) {
  int ms = drain_ms > 0 ? drain_ms : DEFAULT_DRAIN_MS;
  return (ms + 999) / 1000 + GRACE_MARGIN_S; /* the margin also covers a replica's drain delay */
}

/* What the pods of one Deployment are. */
typedef struct pod_desc {
  const char *name;      /* object name */
  const char *stack;
  const char *app;       /* app.kubernetes.io/name */
  const char *component; /* app.kubernetes.io/component */
  const char *set;       /* shimkit.io/set, or NULL for the router */
  const char *image;
  const char *const *args;
  int port, replicas, drain_ms;
  int data;              /* mount an emptyDir at /data */
  const char *cpu_limit, *mem_limit;
  const char *headless;  /* a set's headless Service name, or NULL */
  const char *sets_map;  /* the router's ConfigMap of its sets file, or NULL */
  const char *sets_sha;  /* that file's SHA-256 (hex), with sets_map */
} pod_desc;

static void labels(FILE *out, const pod_desc *d, const char *indent, int selector_only) {
  fprintf(out, "%sapp.kubernetes.io/part-of: ", indent);
  yaml_str(out, d->stack);
  fprintf(out, "\n%sapp.kubernetes.io/instance: ", indent);
  yaml_str(out, d->name);
  if (selector_only) {
    fputc('\n', out);
    return;
  }
  fprintf(out, "\n%sapp.kubernetes.io/name: ", indent);
  yaml_str(out, d->app);
  fprintf(out, "\n%sapp.kubernetes.io/component: ", indent);
  yaml_str(out, d->component);
  fprintf(out, "\n%sapp.kubernetes.io/managed-by: \"shimctl\"\n", indent);
  if (d->set) {
    fprintf(out, "%sshimkit.io/set: ", indent);
    yaml_str(out, d->set);
    fputc('\n', out);
  }
}


/* A Service named name for the pods of d: ClusterIP, or headless (no
 * cluster IP: DNS gives every ready pod's address). */
static void render_service(const pod_desc *d, const char *name, bool headless, FILE *out) {
  fputs("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: ", out);
  yaml_str(out, name);
  fputs("\n  labels:\n", out);
  labels(out, d, "    ", 0);
  fputs(headless ? "spec:\n  type: ClusterIP\n  clusterIP: \"None\"\n  publishNotReadyAddresses: false\n  selector:\n"
                 : "spec:\n  type: ClusterIP\n  selector:\n",
        out);
  labels(out, d, "    ", 1);
  fprintf(out,
          "  ports:\n"
          "    - name: \"grpc\"\n"
          "      port: %d\n"
          "      targetPort: \"grpc\"\n"
          "      protocol: \"TCP\"\n"
          "      appProtocol: \"kubernetes.io/h2c\"\n",
          d->port);
}
static void render(const pod_desc *d, FILE *out) {
  char listen[64], grace[32];
  snprintf(listen, sizeof listen, "0.0.0.0:%d", d->port);
  snprintf(grace, sizeof grace, "%d", d->drain_ms > 0 ? d->drain_ms : DEFAULT_DRAIN_MS);
  /* A --drain-grace-ms among the arguments is the one the shim uses. */
  int has_grace = 0, drain_ms = d->drain_ms;
  for (const char *const *a = d->args; a && *a; a++) {
    if (strcmp(*a, "--drain-grace-ms") == 0 && a[1]) {
      has_grace = 1;
      drain_ms = atoi(a[1]);
    } else if (strncmp(*a, "--drain-grace-ms=", 17) == 0) {
      has_grace = 1;
      drain_ms = atoi(*a + 17);
    }
  }

  fputs("---\n# Written by shimctl (runtime/shimctl/env_kubernetes.c); see docs/environments.md.\n", out);
  fputs("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ", out);
  yaml_str(out, d->name);
  fputs("\n  labels:\n", out);
  labels(out, d, "    ", 0);
  fprintf(out, "spec:\n  replicas: %d\n  selector:\n    matchLabels:\n", d->replicas);
  labels(out, d, "      ", 1);
  fputs("  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxUnavailable: 0\n      maxSurge: 1\n", out);
  fputs("  template:\n    metadata:\n      labels:\n", out);
  labels(out, d, "        ", 0);
  if (d->sets_map) {
    /* Another sets file, another pod template: kubectl apply rolls the router. */
    fputs("      annotations:\n        " SHIMCTL_K8S_SETS_ANNOTATION ": ", out);
    yaml_str(out, d->sets_sha);
    fputc('\n', out);
  }
  fputs("    spec:\n", out);
  /* SIGTERM starts the shim's drain; Kubernetes must wait longer before SIGKILL. */
  fprintf(out, "      terminationGracePeriodSeconds: %d\n", grace_seconds(drain_ms));
  fputs("      automountServiceAccountToken: false\n", out);
  fputs("      securityContext:\n        seccompProfile:\n          type: RuntimeDefault\n", out);
  fputs("      containers:\n        - name: \"shim\"\n          image: ", out);
  yaml_str(out, d->image);
  fputs("\n          imagePullPolicy: IfNotPresent\n          args:\n", out);
  fputs("            - \"--listen\"\n            - ", out);
  yaml_str(out, listen);
  fputc('\n', out);
  if (!has_grace) {
    fputs("            - \"--drain-grace-ms\"\n            - ", out);
    yaml_str(out, grace);
    fputc('\n', out);
  }
  if (d->set != NULL) { /* a replica (not the router): the router stops sending before it refuses calls */
    fprintf(out, "            - \"--drain-delay-ms\"\n            - \"%d\"\n", SHIMCTL_REPLICA_DRAIN_DELAY_MS);
  }
  for (const char *const *a = d->args; a && *a; a++) {
    fputs("            - ", out);
    yaml_str(out, *a);
    fputc('\n', out);
  }
  fprintf(out,
          "          ports:\n"
          "            - name: \"grpc\"\n"
          "              containerPort: %d\n"
          "              protocol: \"TCP\"\n"
          /* Native gRPC probes (grpc.health.v1.Health/Check, service ""). */
          "          readinessProbe:\n"
          "            grpc:\n"
          "              port: %d\n"
          "            periodSeconds: 5\n"
          "            timeoutSeconds: 2\n"
          "            failureThreshold: 2\n"
          "          livenessProbe:\n"
          "            grpc:\n"
          "              port: %d\n"
          "            initialDelaySeconds: 5\n"
          "            periodSeconds: 10\n"
          "            timeoutSeconds: 2\n"
          "            failureThreshold: 3\n"
          "          resources:\n"
          "            requests:\n"
          "              cpu: \"100m\"\n"
          "              memory: \"64Mi\"\n"
          "            limits:\n"
          "              cpu: \"%s\"\n"
          "              memory: \"%s\"\n"
          "          securityContext:\n"
          "            allowPrivilegeEscalation: false\n"
          "            readOnlyRootFilesystem: true\n"
          "            capabilities:\n"
          "              drop: [\"ALL\"]\n"
          "          volumeMounts:\n"
          "            - name: \"tmp\"\n"
          "              mountPath: \"/tmp\"\n",
          d->port, d->port, d->port, d->cpu_limit, d->mem_limit);
  if (d->data) fputs("            - name: \"data\"\n              mountPath: \"/data\"\n", out);
  if (d->sets_map)
    fputs("            - name: \"sets\"\n              mountPath: \"" SHIMCTL_K8S_SETS_DIR "\"\n"
          "              readOnly: true\n", out);
  fputs("      volumes:\n        - name: \"tmp\"\n          emptyDir: {}\n", out);
  if (d->data) fputs("        - name: \"data\"\n          emptyDir: {}\n", out);
  if (d->sets_map) {
    fputs("        - name: \"sets\"\n          configMap:\n            name: ", out);
    yaml_str(out, d->sets_map);
    fputs("\n            items:\n              - key: \"" SHIMCTL_K8S_SETS_KEY "\"\n"
          "                path: \"" SHIMCTL_K8S_SETS_KEY "\"\n", out);
  }

  render_service(d, d->name, false, out);
  /* Headless: DNS answers with the address of every ready pod (the
   * readiness probe is grpc.health.v1), one router replica each. */
  if (d->headless) render_service(d, d->headless, true, out);
}

/* The router's sets file as a ConfigMap, labelled as the router's objects. */
static void render_sets_map(const pod_desc *d, const char *sets, FILE *out) {
  fputs("---\n# The router's --sets-file (the text of its --state file, runtime/router/state.h).\n", out);
  fputs("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ", out);
  yaml_str(out, d->sets_map);
  fputs("\n  labels:\n", out);
  labels(out, d, "    ", 0);
  fputs("data:\n  " SHIMCTL_K8S_SETS_KEY ": ", out);
  yaml_str(out, sets);
  fputc('\n', out);
}

static int check_common(const char *what, const char *image, int port, char *err, size_t errlen) {
  if (!image || !*image) {
    snprintf(err, errlen, "%s: no image (shimctl build makes them)", what);
    return -1;
  }
  if (port < 1 || port > 65535) {
    snprintf(err, errlen, "%s: port %d is not 1..65535", what, port);
    return -1;
  }
  return 0;
}

int shimctl_k8s_render_set(const shimctl_k8s_set *s, FILE *out, char *err, size_t errlen) {
  char name[64], headless[64];
  if (shimctl_k8s_name(s->stack, s->set, name, sizeof name) != 0 ||
      shimctl_k8s_headless_name(s->stack, s->set, headless, sizeof headless) != 0) {
    snprintf(err, errlen,
             "set %s of stack %s: \"%s-%s-pods\" does not make a Kubernetes name (63 characters at most)", s->set,
             s->stack, s->stack, s->set);
    return -1;
  }
  if (check_common(s->set, s->image, s->port, err, errlen) != 0) return -1;
  if (s->replicas < 1) {
    snprintf(err, errlen, "set %s: replicas must be at least 1", s->set);
    return -1;
  }
  if (!label_ok(s->stack) || !label_ok(s->service) || !label_ok(s->implementation) || !label_ok(s->set)) {
    snprintf(err, errlen, "set %s: stack, service, implementation and set must be label values ([A-Za-z0-9_.-])",
             s->set);
    return -1;
  }
  int training = strcmp(s->service, "training") == 0;
  pod_desc d = {
      .name = name,
      .stack = s->stack,
      .app = s->service,
      .component = s->implementation,
      .set = s->set,
      .image = s->image,
      .args = s->args,
      .port = s->port,
      .replicas = s->replicas,
      .drain_ms = s->drain_grace_ms,
      .data = strcmp(s->service, "feature_store") == 0 || strcmp(s->service, "model_repository") == 0,
      .cpu_limit = training ? "2" : "1",
      .mem_limit = training ? "2Gi" : "512Mi",
      .headless = headless,
  };
  render(&d, out);
  return ferror(out) ? (snprintf(err, errlen, "set %s: write error", s->set), -1) : 0;
}

char *shimctl_k8s_router_sets(const shimctl_k8s_set *sets, size_t n, size_t *len, char *err, size_t errlen) {
  shimctl_route routes[64];
  char backends[64][100];
  const char *bp[64];
  if (n > 64) {
    snprintf(err, errlen, "%zu sets: at most 64", n);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    char headless[64];
    if (shimctl_k8s_headless_name(sets[i].stack, sets[i].set, headless, sizeof headless) != 0) {
      snprintf(err, errlen, "set %s: \"%s-%s-pods\" does not make a Kubernetes name", sets[i].set, sets[i].stack,
               sets[i].set);
      return NULL;
    }
    snprintf(backends[i], sizeof backends[i], "dns:%s:%d", headless, sets[i].port);
    bp[i] = backends[i];
    routes[i] = sets[i].route;
    if (routes[i].set == NULL) routes[i].set = sets[i].set;
  }
  return shimctl_router_sets_text(routes, bp, n, len, err, errlen);
}

int shimctl_k8s_render_router(const char *stack, const shimctl_k8s_router *r, const char *sets, FILE *out,
                              char *err, size_t errlen) {
  char name[64], map[64], sha[SHIMCTL_SHA256_HEX];
  if (shimctl_k8s_name(stack, "router", name, sizeof name) != 0 ||
      shimctl_k8s_name(stack, "router-sets", map, sizeof map) != 0 || !label_ok(stack)) {
    snprintf(err, errlen, "stack %s: not usable in a Kubernetes name", stack);
    return -1;
  }
  if (check_common("router", r->image, r->port, err, errlen) != 0) return -1;
  if (sets == NULL) {
    snprintf(err, errlen, "router: no sets file");
    return -1;
  }
  shimctl_sha256_hex(sets, strlen(sets), sha);
  const char *args[K8S_ROUTER_MAX_ARGS + 3] = {"--sets-file", SHIMCTL_K8S_SETS_DIR "/" SHIMCTL_K8S_SETS_KEY};
  size_t na = 2;
  for (const char *const *a = r->args; a && *a; a++) {
    if (na >= K8S_ROUTER_MAX_ARGS + 2) {
      snprintf(err, errlen, "router: more than %d arguments", K8S_ROUTER_MAX_ARGS);
      return -1;
    }
    args[na++] = *a;
  }
  args[na] = NULL;
  pod_desc d = {
      .name = name,
      .stack = stack,
      .app = "router",
      .component = "router",
      .set = NULL,
      .image = r->image,
      .args = args,
      .port = r->port,
      .replicas = 1,
      .drain_ms = r->drain_grace_ms,
      .data = 0, /* its sets come from the ConfigMap; it writes no --state */
      .cpu_limit = "2",
      .mem_limit = "512Mi",
      .sets_map = map,
      .sets_sha = sha,
  };
  render_sets_map(&d, sets, out);
  render(&d, out);
  return ferror(out) ? (snprintf(err, errlen, "router: write error"), -1) : 0;
}

/* Renders into <dir>/<file>.yaml through a temporary file and a rename. */
static int write_one(const char *dir, const char *file, const shimctl_k8s_set *s, const char *stack,
                     const shimctl_k8s_router *r, const char *sets, char *err, size_t errlen) {
  char path[1100], tmp[1110];
  snprintf(path, sizeof path, "%s/%s.yaml", dir, file);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
    return -1;
  }
  int rc = s ? shimctl_k8s_render_set(s, f, err, errlen)
             : shimctl_k8s_render_router(stack, r, sets, f, err, errlen);
  if (fclose(f) != 0 && rc == 0) {
    snprintf(err, errlen, "writing %s: %s", tmp, strerror(errno));
    rc = -1;
  }
  if (rc == 0 && rename(tmp, path) != 0) {
    snprintf(err, errlen, "rename to %s: %s", path, strerror(errno));
    rc = -1;
  }
  if (rc != 0) remove(tmp);
  return rc;
}

int shimctl_k8s_write(const char *dir, const shimctl_k8s_set *sets, size_t n, const shimctl_k8s_router *router,
                      char *err, size_t errlen) {
  if (strlen(dir) > 1000) {
    snprintf(err, errlen, "manifest folder name too long");
    return -1;
  }
  char p[1024];
  snprintf(p, sizeof p, "%s", dir);
  for (char *c = p + 1; *c; c++) {
    if (*c != '/') continue;
    *c = '\0';
    mkdir(p, 0755);
    *c = '/';
  }
  if (mkdir(p, 0755) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    char name[64];
    if (shimctl_k8s_name(sets[i].stack, sets[i].set, name, sizeof name) != 0) {
      snprintf(err, errlen, "set %s: \"%s-%s\" does not make a Kubernetes name", sets[i].set, sets[i].stack,
               sets[i].set);
      return -1;
    }
    if (write_one(dir, name, &sets[i], NULL, NULL, NULL, err, errlen) != 0) return -1;
  }
  if (router) {
    const char *stack = n > 0 ? sets[0].stack : "shimkit";
    char name[64];
    if (shimctl_k8s_name(stack, "router", name, sizeof name) != 0) {
      snprintf(err, errlen, "stack %s: not usable in a Kubernetes name", stack);
      return -1;
    }
    size_t len = 0;
    char *text = shimctl_k8s_router_sets(sets, n, &len, err, errlen);
    if (text == NULL) return -1;
    int rc = write_one(dir, name, NULL, stack, router, text, err, errlen);
    free(text);
    if (rc != 0) return -1;
  }
  return 0;
}

int shimctl_k8s_ready(const char *dir, char *err, size_t errlen) {
  if (!shimctl_runcmd_have("kubectl")) {
    snprintf(err, errlen, "kubectl not found in PATH: manifests are in %s", dir);
    return -1;
  }
  const char *ctx[] = {"kubectl", "config", "current-context", NULL};
  char *text = NULL;
  int rc = shimctl_runcmd_capture(ctx, 1, &text, err, errlen);
  free(text);
  if (rc != 0) {
    snprintf(err, errlen,
             "kubectl has no current context (no cluster configured): nothing applied; the manifests are in %s "
             "(kubectl apply -f %s once a context is set)",
             dir, dir);
    return 1;
  }
  return 0;
}

int shimctl_k8s_apply(const char *dir, FILE *out, char *err, size_t errlen) {
  int rc = shimctl_k8s_ready(dir, err, errlen);
  if (rc != 0) return rc;
  const char *apply[] = {"kubectl", "apply", "-f", dir, NULL};
  rc = shimctl_runcmd_stream(apply, out, err, errlen);
  if (rc != 0) {
    if (rc > 0) snprintf(err, errlen, "kubectl apply -f %s failed (exit %d)", dir, rc);
    return -1;
  }
  return 0;
}

int shimctl_k8s_delete(const char *stack, const char *const *keep, size_t n_keep, int timeout_s, FILE *out,
                       char *err, size_t errlen) {
  if (!label_ok(stack)) {
    snprintf(err, errlen, "stack %s is not a label value", stack);
    return -1;
  }
  /* Objects shimctl wrote for this stack; with keep, only sets (the router
   * and its ConfigMap have no shimkit.io/set) whose set is not kept. */
  char sel[4096];
  size_t len = (size_t)snprintf(sel, sizeof sel, "app.kubernetes.io/part-of=%s,app.kubernetes.io/managed-by=shimctl",
                                stack);
  if (keep != NULL) {
    len += (size_t)snprintf(sel + len, sizeof sel - len, ",shimkit.io/set");
    for (size_t i = 0; i < n_keep; i++) {
      if (!label_ok(keep[i]) || len + strlen(keep[i]) + 32 >= sizeof sel) {
        snprintf(err, errlen, "set %s is not a label value", keep[i]);
        return -1;
      }
      len += (size_t)snprintf(sel + len, sizeof sel - len, "%s%s", i == 0 ? ",shimkit.io/set notin (" : ",", keep[i]);
    }
    if (n_keep > 0) snprintf(sel + len, sizeof sel - len, ")");
  }
  char timeout[32];
  snprintf(timeout, sizeof timeout, "--timeout=%ds", timeout_s > 0 ? timeout_s : 60);
  /* --wait: kubectl returns once the objects are gone (bounded by --timeout);
   * background propagation: their ReplicaSets and pods go after them. */
  const char *del[] = {"kubectl", "delete", "deployment,service,configmap", "-l", sel, "--ignore-not-found",
                       "--wait", timeout, NULL};
  int rc = shimctl_runcmd_stream(del, out, err, errlen);
  if (rc != 0) {
    if (rc > 0) snprintf(err, errlen, "kubectl delete deployment,service,configmap -l %s failed (exit %d)", sel, rc);
    return -1;
  }
  return 0;
}
