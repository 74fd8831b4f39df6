/*
 * stack.c - stack file parsing (libyaml document API) and validation.
 *
 * The whole document is loaded into libyaml's node tree, then walked once:
 * every mapping is checked against its known keys, every value against its
 * type and range; line numbers come from the nodes' start marks. Checks that
 * need the whole stack (port clashes) run last. Every problem is collected,
 * not just the first, so one run shows the operator everything to fix.
 */
#define _XOPEN_SOURCE 700
#include "stack.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "sockets.h"

#define STACK_MAX_FILE_BYTES (1024 * 1024)

typedef struct parse_ctx {
  const char *path;
  yaml_document_t *doc;
  shimctl_errors *errs;
  shimctl_stack *stack;
  int port_line[SHIMCTL_MAX_SERVICES]; /* line of each service's port (or of the service) */
  int router_line;
  int metrics_line;
  int sockets_line;     /* line of replica_sockets (0: not given) */
  int environment_line; /* line of environment (0: not given) */
  int state_dir_line;   /* line of state_dir (0: not given) */
} parse_ctx;

static void add_error(shimctl_errors *errs, const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_error(shimctl_errors *errs, const char *path, int line, const char *fmt, ...) {
  if (errs->n == SHIMCTL_MAX_ERRORS) {
    return;
  }
  char reason[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  snprintf(errs->msg[errs->n++], sizeof errs->msg[0], "%s:%d: %s", path, line, reason);
}

static int node_line(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

static const char *scalar(const yaml_node_t *n) {
  return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A scalar's text, or an error naming what was expected. */
static const char *want_scalar(parse_ctx *c, const yaml_node_t *n, const char *what) {
  const char *s = scalar(n);
  if (s == NULL) {
    add_error(c->errs, c->path, node_line(n), "%s must be a single value", what);
  }
  return s;
}

/* Parses a whole decimal int; false when s is not one. */
static bool parse_int(const char *s, long *out) {
  if (s == NULL || *s == '\0') {
    return false;
  }
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0') {
    return false;
  }
  *out = v;
  return true;
}

int shimctl_addr_port(const char *addr) {
  const char *colon = addr != NULL ? strrchr(addr, ':') : NULL;
  long v;
  if (colon == NULL || colon == addr || !parse_int(colon + 1, &v) || v < 1 || v > 65535) {
    return -1;
  }
  return (int)v;
}

const char *shimctl_policy_name(shimctl_policy p) {
  switch (p) {
    case SHIMCTL_POLICY_LEAST_OUTSTANDING:
      return "least_outstanding";
    case SHIMCTL_POLICY_HASH:
      return "hash";
    default:
      return "round_robin";
  }
}

const char *shimctl_sockets_name(shimctl_sockets s) { return s == SHIMCTL_SOCKETS_UNIX ? "unix" : "tcp"; }

int shimctl_sockets_parse(const char *name) {
  if (name != NULL && strcmp(name, "tcp") == 0) {
    return SHIMCTL_SOCKETS_TCP;
  }
  if (name != NULL && strcmp(name, "unix") == 0) {
    return SHIMCTL_SOCKETS_UNIX;
  }
  return -1;
}

int shimctl_policy_parse(const char *name) {
  if (name == NULL) {
    return -1;
  }
  if (strcmp(name, "round_robin") == 0) {
    return SHIMCTL_POLICY_ROUND_ROBIN;
  }
  if (strcmp(name, "least_outstanding") == 0) {
    return SHIMCTL_POLICY_LEAST_OUTSTANDING;
  }
  if (strcmp(name, "hash") == 0) {
    return SHIMCTL_POLICY_HASH;
  }
  return -1;
}

/* Iterates a mapping: checks every key against known (NULL-terminated), reports
 * duplicates and unknown keys, and calls fn(key, value) for the known ones. */
typedef void (*pair_fn)(parse_ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg);

static bool walk_mapping(parse_ctx *c, yaml_node_t *map, const char *where, const char *const *known, pair_fn fn,
                         void *arg) {
  if (map == NULL || map->type != YAML_MAPPING_NODE) {
    add_error(c->errs, c->path, map != NULL ? node_line(map) : 1, "%s must be a mapping (key: value lines)", where);
    return false;
  }
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
    yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
    const char *key = scalar(k);
    if (key == NULL || v == NULL) {
      add_error(c->errs, c->path, k != NULL ? node_line(k) : node_line(map), "%s: keys must be plain names", where);
      continue;
    }
    bool dup = false;
    for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
      const char *other = scalar(yaml_document_get_node(c->doc, q->key));
      if (other != NULL && strcmp(other, key) == 0) {
        dup = true;
      }
    }
    if (dup) {
      add_error(c->errs, c->path, node_line(k), "duplicate key '%s' in %s", key, where);
      continue;
    }
    if (known != NULL) {
      bool ok = false;
      char list[256] = "";
      size_t off = 0;
      for (const char *const *n = known; *n != NULL; n++) {
        ok = ok || strcmp(*n, key) == 0;
        off += (size_t)snprintf(list + off, off < sizeof list ? sizeof list - off : 0, "%s%s",
                                n == known ? "" : ", ", *n);
      }
      if (!ok) {
        add_error(c->errs, c->path, node_line(k), "unknown key '%s' in %s (known: %s)", key, where, list);
        continue;
      }
    }
    fn(c, key, k, v, arg);
  }
  return true;
}

/* ---------------------------------------------------------------- router */

static void router_pair(parse_ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
  (void)k;
  (void)arg;
  const char *s = want_scalar(c, v, key);
  if (s == NULL) {
    return;
  }
  if (shimctl_addr_port(s) < 0) {
    add_error(c->errs, c->path, node_line(v), "router %s '%s' is not HOST:PORT with a port 1..65535", key, s);
    return;
  }
  if (strcmp(key, "listen") == 0) {
    c->stack->router_listen = strdup(s);
    c->router_line = node_line(v);
  } else {
    c->stack->router_metrics = strdup(s);
    c->metrics_line = node_line(v);
  }
}

/* ---------------------------------------------------------------- config */

typedef struct config_arg {
  shimctl_config *cfg;
  const shimctl_kind *kind;
  const char *where;
} config_arg;

static void config_pair(parse_ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
  config_arg *ca = arg;
  const char *s = want_scalar(c, v, key);
  if (s == NULL) {
    return;
  }
  if (key[0] == '-' || key[0] == '\0' || strchr(key, ' ') != NULL) {
    add_error(c->errs, c->path, node_line(k), "%s: '%s' must be a flag name without dashes (db: x gives --db x)",
              ca->where, key);
    return;
  }
  if (strcmp(key, "listen") == 0 || (ca->kind->impl_flag != NULL && strcmp(key, ca->kind->impl_flag) == 0) ||
      strcmp(key, "drain-grace-ms") == 0) {
    add_error(c->errs, c->path, node_line(k), "%s: '%s' is set by shimctl (use %s)", ca->where, key,
              strcmp(key, "listen") == 0 ? "port" : strcmp(key, "drain-grace-ms") == 0 ? "drain_grace_ms"
                                                                                       : "implementation");
    return;
  }
  if (ca->cfg->n == SHIMCTL_MAX_CONFIG) {
    add_error(c->errs, c->path, node_line(k), "%s: more than %d entries", ca->where, SHIMCTL_MAX_CONFIG);
    return;
  }
  shimctl_kv *kv = &ca->cfg->kv[ca->cfg->n++];
  kv->key = strdup(key);
  kv->value = strdup(s);
}

typedef struct impls_arg {
  shimctl_service_spec *svc;
  char where[96];
} impls_arg;

static void impls_pair(parse_ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
  impls_arg *ia = arg;
  shimctl_service_spec *svc = ia->svc;
  if (!shimctl_kind_has_impl(svc->kind, key)) {
    char list[128];
    shimctl_kind_impl_list(svc->kind, list, sizeof list);
    add_error(c->errs, c->path, node_line(k), "unknown implementation '%s' of %s (valid: %s)", key, svc->kind->name,
              list);
    return;
  }
  if (svc->n_impl_config == SHIMCTL_MAX_IMPL_CONFIG) {
    add_error(c->errs, c->path, node_line(k), "%s: too many implementations", ia->where);
    return;
  }
  shimctl_config *cfg = &svc->impl_config[svc->n_impl_config++];
  cfg->impl = strdup(key);
  char where[160];
  snprintf(where, sizeof where, "%s.%s", ia->where, key);
  config_arg ca = {cfg, svc->kind, where};
  walk_mapping(c, v, where, NULL, config_pair, &ca);
}

/* ---------------------------------------------------------------- services */

typedef struct service_arg {
  shimctl_service_spec *svc;
  int index;
  char where[64];
  int impl_line;
  int policy_line;
} service_arg;

static const char *const service_keys[] = {"implementation", "replicas", "port", "policy", "hash_field", "hash_key",
                                           "drain_grace_ms", "config", "implementations", NULL};

static void service_pair(parse_ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
  (void)k;
  service_arg *sa = arg;
  shimctl_service_spec *svc = sa->svc;
  if (strcmp(key, "config") == 0) {
    char where[96];
    snprintf(where, sizeof where, "%s.config", sa->where);
    config_arg ca = {&svc->config, svc->kind, where};
    walk_mapping(c, v, where, NULL, config_pair, &ca);
    return;
  }
  if (strcmp(key, "implementations") == 0) {
    impls_arg ia = {svc, ""};
    snprintf(ia.where, sizeof ia.where, "%s.implementations", sa->where);
    walk_mapping(c, v, ia.where, NULL, impls_pair, &ia);
    return;
  }
  const char *s = want_scalar(c, v, key);
  if (s == NULL) {
    return;
  }
  long n;
  if (strcmp(key, "implementation") == 0) {
    sa->impl_line = node_line(v);
    if (!shimctl_kind_has_impl(svc->kind, s)) {
      char list[128];
      shimctl_kind_impl_list(svc->kind, list, sizeof list);
      add_error(c->errs, c->path, node_line(v), "unknown implementation '%s' of %s (valid: %s)", s, svc->kind->name,
                list);
      return;
    }
    svc->implementation = strdup(s);
  } else if (strcmp(key, "replicas") == 0) {
    if (!parse_int(s, &n)) {
      add_error(c->errs, c->path, node_line(v), "replicas must be a number, not '%s'", s);
    } else if (n < 1) {
      add_error(c->errs, c->path, node_line(v), "replicas must be at least 1");
    } else if (n > SHIMCTL_MAX_REPLICAS) {
      add_error(c->errs, c->path, node_line(v), "replicas must be at most %d", SHIMCTL_MAX_REPLICAS);
    } else {
      svc->replicas = (int)n;
    }
  } else if (strcmp(key, "port") == 0) {
    c->port_line[sa->index] = node_line(v);
    if (!parse_int(s, &n) || n < 1 || n > 65535) {
      add_error(c->errs, c->path, node_line(v), "port must be a number 1..65535, not '%s'", s);
    } else {
      svc->port = (int)n;
    }
  } else if (strcmp(key, "policy") == 0) {
    int p = shimctl_policy_parse(s);
    sa->policy_line = node_line(v);
    if (p < 0) {
      add_error(c->errs, c->path, node_line(v),
                "unknown policy '%s' (valid: round_robin, least_outstanding, hash)", s);
    } else {
      svc->policy = (shimctl_policy)p;
    }
  } else if (strcmp(key, "hash_field") == 0) {
    svc->hash_field = strdup(s);
  } else if (strcmp(key, "hash_key") == 0) {
    svc->hash_key = strdup(s);
  } else if (strcmp(key, "drain_grace_ms") == 0) {
    if (!parse_int(s, &n) || n < 0 || n > 600000) {
      add_error(c->errs, c->path, node_line(v), "drain_grace_ms must be a number 0..600000, not '%s'", s);
    } else {
      svc->drain_grace_ms = (int)n;
    }
  }
}

static void services_pair(parse_ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
  (void)arg;
  const shimctl_kind *kind = shimctl_kind_find(key);
  if (kind == NULL) {
    char list[256] = "";
    size_t off = 0;
    for (const shimctl_kind *kk = shimctl_kinds; kk->name != NULL; kk++) {
      off += (size_t)snprintf(list + off, off < sizeof list ? sizeof list - off : 0, "%s%s",
                              kk == shimctl_kinds ? "" : ", ", kk->name);
    }
    add_error(c->errs, c->path, node_line(k), "unknown service kind '%s' (known: %s)", key, list);
    return;
  }
  shimctl_stack *st = c->stack;
  if (st->n_services == SHIMCTL_MAX_SERVICES) {
    add_error(c->errs, c->path, node_line(k), "more than %d services", SHIMCTL_MAX_SERVICES);
    return;
  }
  size_t i = st->n_services++;
  shimctl_service_spec *svc = &st->services[i];
  svc->kind = kind;
  svc->replicas = 1;
  svc->drain_grace_ms = 5000;
  c->port_line[i] = node_line(k);
  service_arg sa = {svc, (int)i, "", node_line(k), 0};
  snprintf(sa.where, sizeof sa.where, "services.%s", key);
  size_t errs_before = c->errs->n;
  if (!walk_mapping(c, v, sa.where, service_keys, service_pair, &sa)) {
    return;
  }
  if (svc->implementation == NULL && c->errs->n == errs_before) {
    if (kind->impls[1] == NULL) {
      svc->implementation = strdup(kind->impls[0]);
    } else {
      char list[128];
      shimctl_kind_impl_list(kind, list, sizeof list);
      add_error(c->errs, c->path, node_line(k), "%s: missing field 'implementation' (one of: %s)", key, list);
    }
  }
  int pl = sa.policy_line != 0 ? sa.policy_line : node_line(k);
  if (svc->policy == SHIMCTL_POLICY_HASH) {
    if ((svc->hash_field == NULL) == (svc->hash_key == NULL)) {
      add_error(c->errs, c->path, pl, "%s: policy hash needs exactly one of hash_field or hash_key", key);
    }
  } else if (svc->hash_field != NULL || svc->hash_key != NULL) {
    add_error(c->errs, c->path, pl, "%s: hash_field and hash_key need policy: hash", key);
  }
  if (svc->port != 0 && svc->port + svc->replicas - 1 > 65535) {
    add_error(c->errs, c->path, c->port_line[i], "%s: ports %d..%d go past 65535", key, svc->port,
              svc->port + svc->replicas - 1);
  }
}

/* ---------------------------------------------------------------- top level */

static void top_pair(parse_ctx *c, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg) {
  (void)k;
  (void)arg;
  shimctl_stack *st = c->stack;
  if (strcmp(key, "router") == 0) {
    static const char *const keys[] = {"listen", "metrics_listen", NULL};
    bool listen_given = false;
    for (yaml_node_pair_t *p = v->type == YAML_MAPPING_NODE ? v->data.mapping.pairs.start : NULL;
         p != NULL && p < v->data.mapping.pairs.top; p++) {
      const char *k2 = scalar(yaml_document_get_node(c->doc, p->key));
      listen_given = listen_given || (k2 != NULL && strcmp(k2, "listen") == 0);
    }
    if (walk_mapping(c, v, "router", keys, router_pair, NULL) && !listen_given) {
      add_error(c->errs, c->path, node_line(v), "router: missing field 'listen'");
    }
    c->router_line = c->router_line != 0 ? c->router_line : node_line(v);
    return;
  }
  if (strcmp(key, "services") == 0) {
    if (walk_mapping(c, v, "services", NULL, services_pair, NULL) && v->data.mapping.pairs.top ==
                                                                          v->data.mapping.pairs.start) {
      add_error(c->errs, c->path, node_line(v), "services: at least one service is needed");
    }
    return;
  }
  const char *s = want_scalar(c, v, key);
  if (s == NULL) {
    return;
  }
  if (strcmp(key, "stack") == 0) {
    bool ok = *s != '\0' && strlen(s) <= 40;
    for (const char *p = s; *p != '\0'; p++) {
      ok = ok && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_');
    }
    if (!ok) {
      add_error(c->errs, c->path, node_line(v), "stack name '%s' must be 1-40 of a-z, 0-9, '-', '_'", s);
    }
    st->name = strdup(s);
  } else if (strcmp(key, "environment") == 0) {
    if (strcmp(s, "process") != 0 && strcmp(s, "docker") != 0 && strcmp(s, "kubernetes") != 0) {
      add_error(c->errs, c->path, node_line(v), "unknown environment '%s' (valid: process, docker, kubernetes)", s);
    }
    free(st->environment);
    st->environment = strdup(s);
    c->environment_line = node_line(v);
  } else if (strcmp(key, "state_dir") == 0) {
    st->state_dir = strdup(s);
    c->state_dir_line = node_line(v);
  } else if (strcmp(key, "replica_sockets") == 0) {
    int m = shimctl_sockets_parse(s);
    c->sockets_line = node_line(v);
    if (m < 0) {
      add_error(c->errs, c->path, node_line(v), "unknown replica_sockets '%s' (valid: tcp, unix)", s);
    } else {
      st->replica_sockets = (shimctl_sockets)m;
    }
  }
}

/* replica_sockets: unix, on what the whole file says: the process
 * environment only, and no per-service port (a replica on a socket has none). */
static void check_unix_sockets(parse_ctx *c) {
  shimctl_stack *st = c->stack;
  if (st->replica_sockets != SHIMCTL_SOCKETS_UNIX) {
    return;
  }
  if (st->environment != NULL && strcmp(st->environment, "process") != 0) {
    add_error(c->errs, c->path, c->sockets_line,
              "replica_sockets: unix is for the process environment only (environment %s, line %d, reaches "
              "each replica on a port); remove it or use environment: process",
              st->environment, c->environment_line);
  }
  for (size_t i = 0; i < st->n_services; i++) {
    if (st->services[i].port != 0) {
      add_error(c->errs, c->path, c->port_line[i],
                "services.%s: port has no meaning with replica_sockets: unix (line %d: each replica listens on "
                "a unix socket in the state folder); remove it",
                st->services[i].kind->name, c->sockets_line);
    }
  }
}

/* replica_sockets: unix, once state_dir is absolute: every socket path a
 * set of the file can get (sockets.h) is a valid unix: address of the
 * router, at most 107 bytes of its characters. */
static void check_socket_paths(parse_ctx *c) {
  shimctl_stack *st = c->stack;
  if (st->replica_sockets != SHIMCTL_SOCKETS_UNIX || st->name == NULL) {
    return;
  }
  int line = c->state_dir_line != 0 ? c->state_dir_line : c->sockets_line;
  size_t n = strlen(st->state_dir) + 1 + strlen(st->name) + 2;
  char *dir = malloc(n);
  if (dir == NULL) {
    add_error(c->errs, c->path, line, "out of memory");
    return;
  }
  snprintf(dir, n, "%s/%s", st->state_dir, st->name);
  const char *bad = shimctl_socket_bad_char(dir);
  if (bad != NULL) {
    add_error(c->errs, c->path, line,
              "replica_sockets: unix needs a state_dir of letters, digits and ._/+~@=,- only (a unix: address "
              "of the router allows no other), not '%c' in %s",
              *bad, dir);
    free(dir);
    return;
  }
  for (size_t i = 0; i < st->n_services; i++) {
    const shimctl_kind *kind = st->services[i].kind;
    size_t longest = shimctl_socket_longest(dir, kind);
    if (longest > SHIMCTL_UNIX_PATH_MAX) {
      add_error(c->errs, c->path, line,
                "replica_sockets: unix needs a shorter state_dir: %s's replica sockets in %s/" SHIMCTL_SOCKETS_DIR
                "/ would take up to %zu bytes, and a unix socket path holds at most %d",
                kind->name, dir, longest, SHIMCTL_UNIX_PATH_MAX);
      break;
    }
  }
  free(dir);
}

/* Ports: each set's range, the router and its metrics must not overlap. */
static void check_ports(parse_ctx *c) {
  shimctl_stack *st = c->stack;
  int rport = st->router_listen != NULL ? shimctl_addr_port(st->router_listen) : -1;
  int mport = st->router_metrics != NULL ? shimctl_addr_port(st->router_metrics) : -1;
  if (rport > 0 && rport == mport) {
    add_error(c->errs, c->path, c->metrics_line, "port clash: router metrics_listen uses the router's port %d",
              rport);
  }
  for (size_t i = 0; i < st->n_services && st->replica_sockets != SHIMCTL_SOCKETS_UNIX; i++) {
    const shimctl_service_spec *a = &st->services[i];
    if (a->port == 0) {
      continue;
    }
    int a_last = a->port + a->replicas - 1;
    const int routers[2] = {rport, mport};
    for (int r = 0; r < 2; r++) {
      if (routers[r] > 0 && routers[r] >= a->port && routers[r] <= a_last) {
        add_error(c->errs, c->path, c->port_line[i], "port clash: %s ports %d..%d include the router's %s port %d",
                  a->kind->name, a->port, a_last, r == 0 ? "listen" : "metrics", routers[r]);
      }
    }
    for (size_t j = 0; j < i; j++) {
      const shimctl_service_spec *b = &st->services[j];
      int b_last = b->port + b->replicas - 1;
      if (b->port != 0 && a->port <= b_last && b->port <= a_last) {
        add_error(c->errs, c->path, c->port_line[i], "port clash: %s ports %d..%d overlap %s ports %d..%d",
                  a->kind->name, a->port, a_last, b->kind->name, b->port, b_last);
      }
    }
  }
}

static char *abs_dir_of(const char *path) {
  char *copy = strdup(path);
  if (copy == NULL) {
    return NULL;
  }
  char *slash = strrchr(copy, '/');
  const char *dir = ".";
  if (slash == copy) {
    dir = "/";
  } else if (slash != NULL) {
    *slash = '\0';
    dir = copy;
  }
  char *real = realpath(dir, NULL);
  if (real == NULL) {
    real = strdup(dir);
  }
  free(copy);
  return real;
}

shimctl_stack *shimctl_stack_parse(const char *path, const char *text, size_t len, shimctl_errors *errs) {
  errs->n = 0;
  shimctl_stack *st = calloc(1, sizeof *st);
  if (st == NULL) {
    add_error(errs, path, 1, "out of memory");
    return NULL;
  }
  st->path = strdup(path);
  st->dir = abs_dir_of(path);
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser)) {
    add_error(errs, path, 1, "out of memory");
    shimctl_stack_free(st);
    return NULL;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    int line = (int)(parser.problem_mark.line + 1);
    add_error(errs, path, line, "YAML: %s%s%s", parser.problem != NULL ? parser.problem : "parse error",
              parser.context != NULL ? " " : "", parser.context != NULL ? parser.context : "");
    yaml_parser_delete(&parser);
    shimctl_stack_free(st);
    return NULL;
  }
  parse_ctx c = {0};
  c.path = path;
  c.doc = &doc;
  c.errs = errs;
  c.stack = st;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (root == NULL) {
    add_error(errs, path, 1, "the file is empty");
  } else {
    static const char *const keys[] = {"stack",  "environment", "state_dir", "replica_sockets",
                                       "router", "services",    NULL};
    if (walk_mapping(&c, root, "the stack file", keys, top_pair, NULL)) {
      int line = node_line(root);
      if (st->name == NULL) {
        add_error(errs, path, line, "missing field 'stack' (the stack's name)");
      }
      if (st->router_listen == NULL && c.router_line == 0) {
        add_error(errs, path, line, "missing field 'router' (with listen: HOST:PORT)");
      }
      if (st->n_services == 0 && errs->n == 0) {
        add_error(errs, path, line, "missing field 'services'");
      }
      check_unix_sockets(&c);
      check_ports(&c);
    }
  }
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  if (st->environment == NULL) {
    st->environment = strdup("process");
  }
  if (errs->n == 0 && st->dir != NULL) {
    const char *sd = st->state_dir != NULL ? st->state_dir : ".shimctl";
    char *abs = NULL;
    if (sd[0] == '/') {
      abs = strdup(sd);
    } else {
      size_t n = strlen(st->dir) + strlen(sd) + 2;
      abs = malloc(n);
      if (abs != NULL) {
        snprintf(abs, n, "%s/%s", st->dir, sd);
      }
    }
    free(st->state_dir);
    st->state_dir = abs;
    if (abs != NULL) {
      check_socket_paths(&c);
    }
  }
  if (errs->n > 0 || st->path == NULL || st->dir == NULL || st->state_dir == NULL || st->environment == NULL) {
    if (errs->n == 0) {
      add_error(errs, path, 1, "out of memory");
    }
    shimctl_stack_free(st);
    return NULL;
  }
  return st;
}

shimctl_stack *shimctl_stack_load(const char *path, shimctl_errors *errs) {
  errs->n = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    add_error(errs, path, 0, "cannot open: %s", strerror(errno));
    return NULL;
  }
  char *buf = malloc(STACK_MAX_FILE_BYTES + 1);
  size_t n = buf != NULL ? fread(buf, 1, STACK_MAX_FILE_BYTES + 1, f) : 0;
  fclose(f);
  if (buf == NULL || n > STACK_MAX_FILE_BYTES) {
    add_error(errs, path, 0, buf == NULL ? "out of memory" : "larger than 1 MiB");
    free(buf);
    return NULL;
  }
  shimctl_stack *st = shimctl_stack_parse(path, buf, n, errs);
  free(buf);
  return st;
}

static void config_free(shimctl_config *cfg) {
  free(cfg->impl);
  for (size_t i = 0; i < cfg->n; i++) {
    free(cfg->kv[i].key);
    free(cfg->kv[i].value);
  }
}

void shimctl_stack_free(shimctl_stack *st) {
  if (st == NULL) {
    return;
  }
  for (size_t i = 0; i < st->n_services; i++) {
    shimctl_service_spec *s = &st->services[i];
    free(s->implementation);
    free(s->hash_field);
    free(s->hash_key);
    config_free(&s->config);
    for (size_t j = 0; j < s->n_impl_config; j++) {
      config_free(&s->impl_config[j]);
    }
  }
  free(st->path);
  free(st->dir);
  free(st->name);
  free(st->environment);
  free(st->state_dir);
  free(st->router_listen);
  free(st->router_metrics);
  free(st);
}

shimctl_service_spec *shimctl_stack_service(shimctl_stack *st, const char *kind) {
  for (size_t i = 0; i < st->n_services; i++) {
    if (strcmp(st->services[i].kind->name, kind) == 0) {
      return &st->services[i];
    }
  }
  return NULL;
}

const shimctl_config *shimctl_service_impl_config(const shimctl_service_spec *svc, const char *impl) {
  for (size_t i = 0; i < svc->n_impl_config; i++) {
    if (strcmp(svc->impl_config[i].impl, impl) == 0) {
      return &svc->impl_config[i];
    }
  }
  return NULL;
}
