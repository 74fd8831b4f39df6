/*
 * fsb_main.c - fs_bench: the GetOnlineFeatures benchmark of issue 4.
 * Given a running feature_store_shim per back end (sqlite, redis) and the
 * store behind each, it creates the view and ingests the rows through each
 * shim, then times GetOnlineFeatures of one random entity (every feature)
 * through the shim (with gRPC core's client and with a minimal nghttp2
 * client) and the same lookup straight against SQLite and Redis,
 * at each client thread count, and writes bench/results/feature_store_online.*.
 * scripts/bench_feature_store.sh builds it, starts what it needs and runs it.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsb.h"

void fsb_entity_key(int i, char *buf, size_t size) { snprintf(buf, size, "e%07d", i); }

static const char usage[] =
    "usage: fs_bench --sqlite-shim ADDR --db FILE --redis-shim ADDR --redis HOST:PORT [options]\n"
    "  --entities N       rows to ingest (default 10000)\n"
    "  --features N       DOUBLE features per row (default 100)\n"
    "  --threads LIST     client thread counts, e.g. 1,8 (default 1,8; at most 3 counts)\n"
    "  --warmup S         seconds of warm-up per variant (default 2)\n"
    "  --duration S       seconds measured per variant, at most (default 10)\n"
    "  --max-lookups N    lookups measured per variant, at most (default 20000)\n"
    "  --out DIR          where feature_store_online.{json,md} go (default bench/results)\n";

static int parse_threads(const char *s, int *out) {
  int n = 0;
  while (*s && n < 3) {
    char *end;
    long t = strtol(s, &end, 10);
    if (end == s || t < 1 || t > FSB_MAX_THREADS) return -1;
    out[n++] = (int)t;
    s = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return -1;
  }
  out[n] = 0;
  return n ? 0 : -1;
}

static int parse_args(int argc, char **argv, fsb_config *c) {
  *c = (fsb_config){.out = "bench/results", .entities = 10000, .features = 100, .threads = {1, 8, 0},
                    .warmup_s = 2, .duration_s = 10, .max_lookups = 20000};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
    if (!v) return -1;
    i++;
    if (!strcmp(a, "--sqlite-shim")) c->sqlite_shim = v;
    else if (!strcmp(a, "--db")) c->db = v;
    else if (!strcmp(a, "--redis-shim")) c->redis_shim = v;
    else if (!strcmp(a, "--redis")) c->redis = v;
    else if (!strcmp(a, "--out")) c->out = v;
    else if (!strcmp(a, "--entities")) c->entities = atoi(v);
    else if (!strcmp(a, "--features")) c->features = atoi(v);
    else if (!strcmp(a, "--warmup")) c->warmup_s = atof(v);
    else if (!strcmp(a, "--duration")) c->duration_s = atof(v);
    else if (!strcmp(a, "--max-lookups")) c->max_lookups = atol(v);
    else if (!strcmp(a, "--threads")) {
      if (parse_threads(v, c->threads) != 0) return -1;
    } else return -1;
  }
  if (!c->sqlite_shim || !c->db || !c->redis_shim || !c->redis) return -1;
  if (c->entities < 1 || c->features < 1 || c->features > 1000 || c->max_lookups < 1 || c->warmup_s < 0 ||
      c->duration_s <= 0)
    return -1;
  return 0;
}

static void print_result(const fsb_result *r) {
  printf("fs_bench: %-11s %-6s %d thread(s): %8.0f lookups/s  p50 %.3f ms  p99 %.3f ms  (%ld lookups, %ld errors)\n",
         r->name, r->backend, r->threads, r->per_s, r->p50_ms, r->p99_ms, r->lookups, r->errors);
  fflush(stdout);
}

int main(int argc, char **argv) {
  fsb_config cfg;
  int pa = parse_args(argc, argv, &cfg);
  if (pa != 0) {
    fputs(usage, pa > 0 ? stdout : stderr);
    return pa > 0 ? 0 : 2;
  }
  const char *backends[2] = {"sqlite", "redis"};
  const char *shims[2] = {cfg.sqlite_shim, cfg.redis_shim};
  fsb_ingest ing[2];
  fsb_result res[2 * 3 * 4];
  int n_res = 0, rc = 0;
  for (int b = 0; b < 2 && rc == 0; b++) {
    ing[b].backend = backends[b];
    printf("fs_bench: %s: view %s, %d features, ingesting %d rows through the shim ...\n", backends[b], FSB_VIEW,
           cfg.features, cfg.entities);
    fflush(stdout);
    if (fsb_shim_setup(&cfg, shims[b], &ing[b].seconds) != 0) {
      fprintf(stderr, "fs_bench: setup through %s failed\n", shims[b]);
      return 1;
    }
    printf("fs_bench: %s: ingested in %.2f s\n", backends[b], ing[b].seconds);
    fsb_variant shim, shim_h2, direct, direct_view;
    if (fsb_shim_variant(&cfg, shims[b], backends[b], &shim) != 0) return 1;
    fsb_h2_variant(shims[b], backends[b], &shim_h2);
    (b == 0 ? fsb_direct_sqlite : fsb_direct_redis)(&direct, 0);
    (b == 0 ? fsb_direct_sqlite : fsb_direct_redis)(&direct_view, 1);
    for (int t = 0; cfg.threads[t] && rc == 0; t++) {
      const fsb_variant *order[4] = {&shim, &shim_h2, &direct, &direct_view};
      for (int k = 0; k < 4 && rc == 0; k++) {
        if ((rc = fsb_run(&cfg, order[k], cfg.threads[t], &res[n_res])) != 0)
          fprintf(stderr, "fs_bench: %s %s: a client could not connect\n", order[k]->name, order[k]->backend);
        else print_result(&res[n_res++]);
      }
    }
    fsb_shim_variant_free(&shim);
  }
  if (rc != 0) return 1;
  return fsb_report(&cfg, res, n_res, ing, 2) == 0 ? 0 : 1;
}
