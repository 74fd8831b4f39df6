/*
 * fsb.h - shared declarations of fs_bench, the GetOnlineFeatures benchmark
 * (bench/feature_store/README.md): the settings, one "variant" (a way of
 * looking up one entity: through the shim or straight at the store), the
 * timed runner and its results, and the report writer.
 */
#ifndef FSB_H
#define FSB_H

#include <stddef.h>
#include <stdint.h>

#define FSB_VIEW "bench_online"   /* the view fs_bench creates (and replaces) */
#define FSB_MAX_THREADS 64

typedef struct fsb_config {
  const char *sqlite_shim;  /* feature_store_shim --backend sqlite address */
  const char *db;           /* its database file (opened read-only by the direct variant) */
  const char *redis_shim;   /* feature_store_shim --backend redis address */
  const char *redis;        /* the Redis server behind it, HOST:PORT */
  const char *out;          /* directory of feature_store_online.{json,md} */
  int entities;             /* rows ingested */
  int features;             /* DOUBLE features per row */
  int threads[4];           /* client thread counts to run, 0-terminated */
  double warmup_s;          /* per variant, not measured */
  double duration_s;        /* per variant, at most */
  long max_lookups;         /* per variant, at most */
} fsb_config;

/* Entity key i ("e0000042"), into buf of at least 16 bytes. */
void fsb_entity_key(int i, char *buf, size_t size);

/*
 * A way to look up one entity with all its features. open() makes the
 * per-thread state (a connection), lookup() fetches and decodes one entity
 * and returns how many features it got (the runner checks it), -1 on error.
 */
typedef struct fsb_variant {
  const char *name;    /* "shim", "shim-h2", "direct", "direct+view" */
  const char *backend; /* "sqlite", "redis" */
  void *(*open)(const fsb_config *cfg, void *shared);
  int (*lookup)(void *state, const char *key);
  void (*close)(void *state);
  void *shared;        /* e.g. the one gRPC channel all threads share */
} fsb_variant;

typedef struct fsb_result {
  const char *name, *backend;
  int threads;
  long lookups;       /* measured */
  long errors;        /* failed lookups or wrong feature counts */
  double seconds;     /* measured wall time */
  double per_s;       /* lookups / seconds */
  double p50_ms, p99_ms, mean_ms;
} fsb_result;

/* Runs v with n threads: warm-up, then up to duration/max_lookups. 0, or -1 if a thread could not open. */
int fsb_run(const fsb_config *cfg, const fsb_variant *v, int threads, fsb_result *out);

/* Monotonic seconds. */
double fsb_now(void);

/* Through the shim (fsb_shim.c): view setup + ingest, and the lookup variant. */
int fsb_shim_setup(const fsb_config *cfg, const char *addr, double *ingest_s);
int fsb_shim_variant(const fsb_config *cfg, const char *addr, const char *backend, fsb_variant *out);
void fsb_shim_variant_free(fsb_variant *v);

/* How many of the first entity's features came back PRESENT and DOUBLE; -1 if not exactly one entity. */
struct Shimkit__Ml__V1__GetOnlineFeaturesResponse;
int fsb_count_present(const struct Shimkit__Ml__V1__GetOnlineFeaturesResponse *resp);

/* Through the shim with a minimal nghttp2 client, no gRPC core (fsb_h2.c); addr stays the caller's. */
void fsb_h2_variant(const char *addr, const char *backend, fsb_variant *out);

/* Straight at the store (fsb_direct.c); view_too: also read the view definition first, as the shim does. */
void fsb_direct_sqlite(fsb_variant *out, int view_too);
void fsb_direct_redis(fsb_variant *out, int view_too);

/* Ingest times per back end, for the report. */
typedef struct fsb_ingest {
  const char *backend;
  double seconds;
} fsb_ingest;

/* Writes feature_store_online.json and .md under cfg->out. 0 or -1. */
int fsb_report(const fsb_config *cfg, const fsb_result *res, int n_res, const fsb_ingest *ing, int n_ing);

#endif /* FSB_H */
