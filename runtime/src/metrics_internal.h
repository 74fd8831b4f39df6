/*
 * metrics_internal.h - the registry behind shimkit/metrics.h, shared by the
 * counting side (metrics.c) and the HTTP endpoint (metrics_http.c).
 */
#ifndef SHIMKIT_METRICS_INTERNAL_H
#define SHIMKIT_METRICS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "shimkit/metrics.h"

#define SHIMKIT__METRICS_BUCKETS 14
#define SHIMKIT__METRICS_COLLECTORS 8

/* Counters of one method. */
typedef struct shimkit__method_metrics {
  char *method;                                   /* "/pkg.Service/Method", owned */
  uint64_t started;                               /* calls that reached the chain */
  int64_t in_flight;                              /* started, not finished */
  uint64_t handled[SHIMKIT_UNAUTHENTICATED + 1];  /* finished, by status code */
  uint64_t buckets[SHIMKIT__METRICS_BUCKETS + 1]; /* durations per bucket; last = +Inf */
  double duration_sum;                            /* seconds, all finished calls */
} shimkit__method_metrics;

struct shimkit_metrics {
  pthread_mutex_t lock;             /* guards methods and their counters */
  shimkit__method_metrics *methods; /* one per method seen, in first-seen order */
  size_t n_methods;                 /* entries used */
  size_t cap_methods;               /* entries allocated */
  shimkit_metrics_collector_fn collectors[SHIMKIT__METRICS_COLLECTORS]; /* extra series, in order added */
  void *collector_data[SHIMKIT__METRICS_COLLECTORS];                    /* their user_data */
  size_t n_collectors;              /* entries used (guarded by lock) */
  int http_fd;                      /* listening socket of /metrics, -1 when none */
  pthread_t http_thread;            /* serves http_fd */
  atomic_bool http_stop;            /* asks http_thread to return */
};

/* Stops the /metrics thread and closes its socket, if any. */
void shimkit__metrics_http_stop(shimkit_metrics *m);

#endif /* SHIMKIT_METRICS_INTERNAL_H */
