/*
 * router_metrics.c - the router's own Prometheus series, added to the
 * shim's /metrics (--metrics-listen) through shimkit_metrics_add_collector:
 * per replica (labels set, backend) its calls, failures, retries, calls in
 * flight and health; per set its weight. Read from the current snapshot, so
 * a removed set's series disappear with it.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>

#include "router.h"

typedef struct text {
  char *buf;
  size_t cap;
  size_t len; /* the length the whole text needs */
} text;

static void out(text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = t->len < t->cap ? t->cap - t->len : 0;
  int n = vsnprintf(room ? t->buf + t->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n > 0) {
    t->len += (size_t)n;
  }
}

enum { M_CALLS, M_FAILURES, M_RETRIED, M_OUTSTANDING, M_SERVING, M_COUNT };

static const struct {
  const char *name;
  const char *type;
  const char *help;
} series[M_COUNT] = {
    {"shimkit_router_backend_calls_total", "counter", "Calls forwarded to the replica."},
    {"shimkit_router_backend_failures_total", "counter",
     "Forwarded calls that ended with a status other than OK (not a retry_not_found set's not-here NOT_FOUND)."},
    {"shimkit_router_backend_retried_total", "counter", "Attempts that failed to connect and were retried elsewhere."},
    {"shimkit_router_backend_outstanding", "gauge", "Calls forwarded to the replica and not finished."},
    {"shimkit_router_backend_serving", "gauge", "1 when the replica's health Watch says SERVING."},
};

static long value_of(const router_backend *b, int m) {
  switch (m) {
    case M_CALLS: return atomic_load(&b->calls);
    case M_FAILURES: return atomic_load(&b->failures);
    case M_RETRIED: return atomic_load(&b->retried_away);
    case M_OUTSTANDING: return atomic_load(&b->outstanding);
    default: return atomic_load(&b->healthy) ? 1 : 0;
  }
}

/* Set names and addresses are validated (spec.c): nothing in them needs escaping. */
static size_t collect(char *buf, size_t cap, void *user_data) {
  router *r = user_data;
  text t = {buf, cap, 0};
  if (cap > 0) {
    buf[0] = '\0';
  }
  router_config *cfg = router_config_get(r);
  for (int m = 0; m < M_COUNT; m++) {
    out(&t, "# HELP %s %s\n# TYPE %s %s\n", series[m].name, series[m].help, series[m].name, series[m].type);
    for (int i = 0; cfg != NULL && i < cfg->n_sets; i++) {
      const router_set *s = &cfg->sets[i];
      for (int j = 0; j < s->n_backends; j++) {
        out(&t, "%s{set=\"%s\",backend=\"%s\"} %ld\n", series[m].name, s->spec.name, s->backends[j]->address,
            value_of(s->backends[j], m));
      }
    }
  }
  out(&t, "# HELP shimkit_router_set_weight The set's share of new calls among the sets of its services.\n"
          "# TYPE shimkit_router_set_weight gauge\n");
  for (int i = 0; cfg != NULL && i < cfg->n_sets; i++) {
    out(&t, "shimkit_router_set_weight{set=\"%s\"} %u\n", cfg->sets[i].spec.name, cfg->sets[i].spec.weight);
  }
  router_config_unref(cfg);
  return t.len;
}

shimkit_code router_metrics_register(router *r, shimkit_metrics *metrics) {
  return shimkit_metrics_add_collector(metrics, collect, r);
}
