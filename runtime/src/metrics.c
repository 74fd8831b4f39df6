/*
 * metrics.c - the metrics registry: an interceptor counts calls per method and
 * status and times them; render writes the Prometheus text format.
 *
 * One mutex guards the registry; it is held only to bump counters, never
 * while a handler runs. Methods are those the server's tables declare, so
 * the number of series is fixed by the services, not by clients.
 */
#define _POSIX_C_SOURCE 200809L

#include "metrics_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shimkit/call.h"

/* Upper bounds of the latency buckets, in seconds (+Inf is implicit). */
static const double bucket_bounds[SHIMKIT__METRICS_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

shimkit_metrics *shimkit_metrics_new(void) {
  shimkit_metrics *m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  pthread_mutex_init(&m->lock, NULL);
  m->http_fd = -1;
  return m;
}

/* The entry of method, added when new; NULL when out of memory. Lock held. */
static shimkit__method_metrics *entry_for(shimkit_metrics *m, const char *method) {
  for (size_t i = 0; i < m->n_methods; i++)
    if (strcmp(m->methods[i].method, method) == 0) return &m->methods[i];
  if (m->n_methods == m->cap_methods) {
    size_t cap = m->cap_methods ? m->cap_methods * 2 : 16;
    shimkit__method_metrics *grown = realloc(m->methods, cap * sizeof *grown);
    if (grown == NULL) return NULL;
    m->methods = grown;
    m->cap_methods = cap;
  }
  shimkit__method_metrics *e = &m->methods[m->n_methods];
  memset(e, 0, sizeof *e);
  e->method = strdup(method);
  if (e->method == NULL) return NULL;
  m->n_methods++;
  return e;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static shimkit_code metrics_interceptor(shimkit_call *call, shimkit_next *next, void *user_data) {
  shimkit_metrics *m = user_data;
  if (shimkit_call_method_desc(call) == NULL) return shimkit_next_call(next);
  const char *method = shimkit_call_method(call);
  pthread_mutex_lock(&m->lock);
  shimkit__method_metrics *e = entry_for(m, method);
  if (e != NULL) {
    e->started++;
    e->in_flight++;
  }
  pthread_mutex_unlock(&m->lock);

  double t0 = now_seconds();
  shimkit_code code = shimkit_next_call(next);
  double elapsed = now_seconds() - t0;

  if (e == NULL) return code;
  pthread_mutex_lock(&m->lock);
  e = entry_for(m, method); /* the array may have moved meanwhile */
  if (e != NULL) {
    e->in_flight--;
    if ((unsigned)code <= SHIMKIT_UNAUTHENTICATED) e->handled[code]++;
    size_t b = 0;
    while (b < SHIMKIT__METRICS_BUCKETS && elapsed > bucket_bounds[b])
      b++;
    e->buckets[b]++;
    e->duration_sum += elapsed;
  }
  pthread_mutex_unlock(&m->lock);
  return code;
}

shimkit_code shimkit_metrics_attach(shimkit_metrics *metrics, shimkit_server *srv) {
  if (metrics == NULL || srv == NULL) return SHIMKIT_INVALID_ARGUMENT;
  return shimkit_server_add_interceptor(srv, metrics_interceptor, metrics);
}

/* ---- rendering ----------------------------------------------------------------- */

typedef struct text_out {
  char *buf;
  size_t cap;
  size_t len; /* length the whole text needs */
} text_out;

static void out_printf(text_out *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = o->len < o->cap ? o->cap - o->len : 0;
  int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n > 0) o->len += (size_t)n;
}

/* Method paths are [A-Za-z0-9_./]: nothing in them needs escaping in a label. */
size_t shimkit_metrics_render(shimkit_metrics *m, char *buf, size_t cap) {
  text_out o = {buf, cap, 0};
  if (cap > 0) buf[0] = '\0';
  if (m == NULL) return 0;
  pthread_mutex_lock(&m->lock);
  out_printf(&o, "# HELP shimkit_calls_started_total Calls that reached a handler.\n"
                 "# TYPE shimkit_calls_started_total counter\n");
  for (size_t i = 0; i < m->n_methods; i++)
    out_printf(&o, "shimkit_calls_started_total{method=\"%s\"} %llu\n", m->methods[i].method,
               (unsigned long long)m->methods[i].started);
  out_printf(&o, "# HELP shimkit_calls_handled_total Calls finished, by status code.\n"
                 "# TYPE shimkit_calls_handled_total counter\n");
  for (size_t i = 0; i < m->n_methods; i++)
    for (int code = 0; code <= SHIMKIT_UNAUTHENTICATED; code++)
      if (m->methods[i].handled[code])
        out_printf(&o, "shimkit_calls_handled_total{method=\"%s\",code=\"%s\"} %llu\n", m->methods[i].method,
                   shimkit_code_name((shimkit_code)code), (unsigned long long)m->methods[i].handled[code]);
  out_printf(&o, "# HELP shimkit_calls_in_flight Calls running now.\n"
                 "# TYPE shimkit_calls_in_flight gauge\n");
  for (size_t i = 0; i < m->n_methods; i++)
    out_printf(&o, "shimkit_calls_in_flight{method=\"%s\"} %lld\n", m->methods[i].method,
               (long long)m->methods[i].in_flight);
  out_printf(&o, "# HELP shimkit_call_duration_seconds Time in interceptors and handler per call.\n"
                 "# TYPE shimkit_call_duration_seconds histogram\n");
  for (size_t i = 0; i < m->n_methods; i++) {
    const shimkit__method_metrics *e = &m->methods[i];
    unsigned long long cumulative = 0;
    for (size_t b = 0; b <= SHIMKIT__METRICS_BUCKETS; b++) {
      cumulative += e->buckets[b];
      if (b < SHIMKIT__METRICS_BUCKETS)
        out_printf(&o, "shimkit_call_duration_seconds_bucket{method=\"%s\",le=\"%g\"} %llu\n", e->method,
                   bucket_bounds[b], cumulative);
      else
        out_printf(&o, "shimkit_call_duration_seconds_bucket{method=\"%s\",le=\"+Inf\"} %llu\n", e->method,
                   cumulative);
    }
    out_printf(&o, "shimkit_call_duration_seconds_sum{method=\"%s\"} %.6f\n", e->method, e->duration_sum);
    out_printf(&o, "shimkit_call_duration_seconds_count{method=\"%s\"} %llu\n", e->method, cumulative);
  }
  /* Collectors run without the lock (they take their own). */
  shimkit_metrics_collector_fn fns[SHIMKIT__METRICS_COLLECTORS];
  void *data[SHIMKIT__METRICS_COLLECTORS];
  size_t n_fns = m->n_collectors;
  memcpy(fns, m->collectors, n_fns * sizeof fns[0]);
  memcpy(data, m->collector_data, n_fns * sizeof data[0]);
  pthread_mutex_unlock(&m->lock);
  for (size_t i = 0; i < n_fns; i++) {
    size_t room = o.len < o.cap ? o.cap - o.len : 0;
    o.len += fns[i](room ? o.buf + o.len : NULL, room, data[i]);
  }
  if (cap > 0 && o.len >= cap) buf[cap - 1] = '\0';
  return o.len;
}

shimkit_code shimkit_metrics_add_collector(shimkit_metrics *m, shimkit_metrics_collector_fn fn, void *user_data) {
  if (m == NULL || fn == NULL) return SHIMKIT_INVALID_ARGUMENT;
  pthread_mutex_lock(&m->lock);
  shimkit_code rc = SHIMKIT_RESOURCE_EXHAUSTED;
  if (m->n_collectors < SHIMKIT__METRICS_COLLECTORS) {
    m->collectors[m->n_collectors] = fn;
    m->collector_data[m->n_collectors++] = user_data;
    rc = SHIMKIT_OK;
  }
  pthread_mutex_unlock(&m->lock);
  return rc;
}

void shimkit_metrics_free(shimkit_metrics *m) {
  if (m == NULL) return;
  shimkit__metrics_http_stop(m);
  for (size_t i = 0; i < m->n_methods; i++)
    free(m->methods[i].method);
  free(m->methods);
  pthread_mutex_destroy(&m->lock);
  free(m);
}
