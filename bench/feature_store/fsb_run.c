/*
 * fsb_run.c - the timed runner: n client threads each open their own state,
 * look up random entities until the shared warm-up deadline, then take
 * numbered slots (one atomic counter) until the duration ends or every slot
 * of max_lookups is taken, recording each lookup's latency in its slot.
 * p50/p99 come from all slots sorted; lookups/s is slots over wall time.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fsb.h"

double fsb_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct run_shared {
  const fsb_config *cfg;
  const fsb_variant *v;
  double measure_at, end_at; /* set once every thread has opened */
  pthread_barrier_t ready;
  atomic_long next_slot;
  atomic_long errors;
  atomic_int open_failed;
  double *lat_ms;            /* max_lookups slots */
} run_shared;

typedef struct run_thread {
  run_shared *sh;
  unsigned seed;
  double finished_at;
} run_thread;

static int random_entity(unsigned *seed, int n) { return (int)(((uint64_t)(unsigned)rand_r(seed) * (unsigned)n) / ((uint64_t)RAND_MAX + 1)); }

static void *thread_main(void *p) {
  run_thread *t = p;
  run_shared *sh = t->sh;
  const fsb_config *cfg = sh->cfg;
  void *st = sh->v->open(cfg, sh->v->shared);
  if (!st) atomic_store(&sh->open_failed, 1);
  pthread_barrier_wait(&sh->ready); /* the main thread sets the deadlines here */
  pthread_barrier_wait(&sh->ready);
  if (!st || atomic_load(&sh->open_failed)) {
    if (st) sh->v->close(st);
    return NULL;
  }
  char key[32];
  while (fsb_now() < sh->measure_at) {
    fsb_entity_key(random_entity(&t->seed, cfg->entities), key, sizeof key);
    sh->v->lookup(st, key);
  }
  for (;;) {
    double t0 = fsb_now();
    if (t0 >= sh->end_at) break;
    long slot = atomic_fetch_add(&sh->next_slot, 1);
    if (slot >= cfg->max_lookups) break;
    fsb_entity_key(random_entity(&t->seed, cfg->entities), key, sizeof key);
    int got = sh->v->lookup(st, key);
    double t1 = fsb_now();
    sh->lat_ms[slot] = (t1 - t0) * 1e3;
    if (got != cfg->features) atomic_fetch_add(&sh->errors, 1);
  }
  t->finished_at = fsb_now();
  sh->v->close(st);
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Linear interpolation between the closest ranks, as bench/run.py does. */
static double percentile(const double *sorted, long n, double p) {
  if (n <= 0) return NAN;
  double k = (double)(n - 1) * p / 100.0;
  long lo = (long)k, hi = lo + 1 < n ? lo + 1 : n - 1;
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (k - (double)lo);
}

int fsb_run(const fsb_config *cfg, const fsb_variant *v, int threads, fsb_result *out) {
  run_shared sh = {.cfg = cfg, .v = v};
  sh.lat_ms = malloc((size_t)cfg->max_lookups * sizeof *sh.lat_ms);
  run_thread *ts = calloc((size_t)threads, sizeof *ts);
  pthread_t *tid = calloc((size_t)threads, sizeof *tid);
  if (!sh.lat_ms || !ts || !tid) {
    free(sh.lat_ms), free(ts), free(tid);
    return -1;
  }
  pthread_barrier_init(&sh.ready, NULL, (unsigned)threads + 1);
  for (int i = 0; i < threads; i++) {
    ts[i] = (run_thread){.sh = &sh, .seed = 0x5eed0000u + (unsigned)i * 7919u};
    pthread_create(&tid[i], NULL, thread_main, &ts[i]);
  }
  pthread_barrier_wait(&sh.ready);
  sh.measure_at = fsb_now() + cfg->warmup_s;
  sh.end_at = sh.measure_at + cfg->duration_s;
  pthread_barrier_wait(&sh.ready);
  double last = sh.measure_at;
  for (int i = 0; i < threads; i++) {
    pthread_join(tid[i], NULL);
    if (ts[i].finished_at > last) last = ts[i].finished_at;
  }
  pthread_barrier_destroy(&sh.ready);
  long n = atomic_load(&sh.next_slot);
  if (n > cfg->max_lookups) n = cfg->max_lookups;
  int failed = atomic_load(&sh.open_failed);
  if (!failed) {
    qsort(sh.lat_ms, (size_t)n, sizeof *sh.lat_ms, cmp_double);
    double sum = 0;
    for (long i = 0; i < n; i++) sum += sh.lat_ms[i];
    *out = (fsb_result){.name = v->name, .backend = v->backend, .threads = threads, .lookups = n,
                        .errors = atomic_load(&sh.errors), .seconds = last - sh.measure_at,
                        .p50_ms = percentile(sh.lat_ms, n, 50), .p99_ms = percentile(sh.lat_ms, n, 99),
                        .mean_ms = n ? sum / (double)n : NAN};
    out->per_s = out->seconds > 0 ? (double)n / out->seconds : 0;
  }
  free(sh.lat_ms), free(ts), free(tid);
  return failed ? -1 : 0;
}
