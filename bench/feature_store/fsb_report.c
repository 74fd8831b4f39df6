/*
 * fsb_report.c - writes fs_bench's results as feature_store_online.json and
 * a markdown table, feature_store_online.md: every run, then per back end,
 * thread count and client (gRPC core, nghttp2) the shim against the direct
 * lookup (added p50 and p99, ratio of throughputs) and the target
 * (added p50 <= 0.2 ms at 1 client thread), which is reported, never asserted.
 */
#define _POSIX_C_SOURCE 200809L

#include <hiredis/hiredis.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "fsb.h"

#define TARGET_ADDED_P50_MS 0.2

static const char *const notes[] = {
    "Client, shims and stores share one machine (2 CPUs, also running other work): absolute numbers are "
    "noisy, compare within one run only.",
    "shim = GetOnlineFeatures over gRPC (generated C stub, one channel shared by the client threads) to "
    "feature_store_shim, which caches view definitions (each lookup checks in the same store round trip "
    "that the definition is still current); each client thread decodes replies into its own arena "
    "(shimkit/arena.h).",
    "shim-h2 = the same call through the same shim with a minimal gRPC client on nghttp2 (the library h2load "
    "is built on; bench/feature_store/fsb_h2.c), one connection per client thread, the reply decoded the same "
    "way: no gRPC core on the client side. shim-h2 minus direct is what the shim itself adds (its server, "
    "the conversion, the loopback hop); shim minus shim-h2 is what gRPC core's client stack adds.",
    "direct = the back end's own lookup from C, one connection per client thread: SQLite BEGIN + "
    "FS_SQL_LOOKUP + COMMIT on the same database file; Redis HGETALL fs:row:<view>:<entity>, values decoded.",
    "direct+view = direct, after first reading the view definition as the back end's get_view does "
    "(the shim did that on every call before it cached definitions): what that extra store round trip costs.",
    "Target: the shim adds <= 0.2 ms at p50 (1 client thread; at 8 threads on 2 CPUs queueing dominates); "
    "it is judged for both clients.",
};

typedef struct cmp {
  const fsb_result *shim, *direct, *view; /* view: direct+view, or NULL */
} cmp;

/* "1.23 2.34 3.45": /proc/loadavg's 1, 5 and 15 minute load averages, or "unknown". */
static void load_average(char *buf, size_t len) {
  snprintf(buf, len, "unknown");
  FILE *f = fopen("/proc/loadavg", "r");
  if (!f) return;
  double a, b, c;
  if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) snprintf(buf, len, "%.2f %.2f %.2f", a, b, c);
  fclose(f);
}

static const fsb_result *find(const fsb_result *res, int n, const char *name, const fsb_result *like) {
  for (int j = 0; j < n; j++)
    if (!strcmp(res[j].name, name) && !strcmp(res[j].backend, like->backend) && res[j].threads == like->threads)
      return &res[j];
  return NULL;
}

static int pairs(const fsb_result *res, int n, cmp *out) {
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (strcmp(res[i].name, "shim") != 0 && strcmp(res[i].name, "shim-h2") != 0) continue;
    const fsb_result *d = find(res, n, "direct", &res[i]);
    if (d) out[k++] = (cmp){&res[i], d, find(res, n, "direct+view", &res[i])};
  }
  return k;
}

static void num(FILE *f, double v, int digits) {
  if (isfinite(v)) fprintf(f, "%.*f", digits, v);
  else fputs("null", f);
}

static const char *met(double added) { return isfinite(added) && added <= TARGET_ADDED_P50_MS ? "met" : "NOT met"; }

static void write_json(FILE *f, const fsb_config *cfg, const char *date, const struct utsname *un,
                       const fsb_result *res, int n, const cmp *c, int n_cmp, const fsb_ingest *ing, int n_ing) {
  fprintf(f, "{\n  \"benchmark\": \"GetOnlineFeatures, 1 random entity, all %d DOUBLE features\",\n", cfg->features);
  fprintf(f, "  \"date\": \"%s\",\n", date);
  fprintf(f, "  \"machine\": {\"cpus\": %ld, \"kernel\": \"%s\", \"sqlite\": \"%s\", \"hiredis\": \"%d.%d.%d\"},\n",
          sysconf(_SC_NPROCESSORS_ONLN), un->release, sqlite3_libversion(), HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
  fprintf(f, "  \"setup\": {\"view\": \"%s\", \"features\": %d, \"entities\": %d, \"ingest_s\": {", FSB_VIEW,
          cfg->features, cfg->entities);
  for (int i = 0; i < n_ing; i++) {
    fprintf(f, "%s\"%s\": ", i ? ", " : "", ing[i].backend);
    num(f, ing[i].seconds, 3);
  }
  fprintf(f, "}},\n  \"load\": {\"warmup_s\": %g, \"duration_s\": %g, \"max_lookups\": %ld, \"threads\": [",
          cfg->warmup_s, cfg->duration_s, cfg->max_lookups);
  for (int t = 0; cfg->threads[t]; t++) fprintf(f, "%s%d", t ? ", " : "", cfg->threads[t]);
  fputs("]},\n  \"runs\": [\n", f);
  for (int i = 0; i < n; i++) {
    const fsb_result *r = &res[i];
    fprintf(f, "    {\"variant\": \"%s\", \"backend\": \"%s\", \"threads\": %d, \"lookups\": %ld, \"errors\": %ld, "
               "\"seconds\": ", r->name, r->backend, r->threads, r->lookups, r->errors);
    num(f, r->seconds, 3), fputs(", \"lookups_per_s\": ", f), num(f, r->per_s, 1);
    fputs(", \"p50_ms\": ", f), num(f, r->p50_ms, 4), fputs(", \"p99_ms\": ", f), num(f, r->p99_ms, 4);
    fputs(", \"mean_ms\": ", f), num(f, r->mean_ms, 4);
    fprintf(f, "}%s\n", i + 1 < n ? "," : "");
  }
  fputs("  ],\n  \"comparison\": [\n", f);
  for (int i = 0; i < n_cmp; i++) {
    const fsb_result *s = c[i].shim, *d = c[i].direct;
    fprintf(f, "    {\"backend\": \"%s\", \"threads\": %d, \"client\": \"%s\", \"shim_p50_ms\": ", s->backend,
            s->threads, s->name);
    num(f, s->p50_ms, 4), fputs(", \"direct_p50_ms\": ", f), num(f, d->p50_ms, 4);
    fputs(", \"added_p50_ms\": ", f), num(f, s->p50_ms - d->p50_ms, 4);
    fputs(", \"added_p99_ms\": ", f), num(f, s->p99_ms - d->p99_ms, 4);
    fputs(", \"shim_vs_direct_lookups_per_s\": ", f), num(f, d->per_s > 0 ? s->per_s / d->per_s : NAN, 3);
    fputs(", \"view_read_p50_ms\": ", f), num(f, c[i].view ? c[i].view->p50_ms - d->p50_ms : NAN, 4);
    fprintf(f, "}%s\n", i + 1 < n_cmp ? "," : "");
  }
  fprintf(f, "  ],\n  \"target\": {\"added_p50_ms\": \"<= %g at 1 client thread\"", TARGET_ADDED_P50_MS);
  for (int i = 0; i < n_cmp; i++) {
    if (c[i].shim->threads != 1) continue;
    double added = c[i].shim->p50_ms - c[i].direct->p50_ms;
    fprintf(f, ", \"%s %s\": {\"added_p50_ms\": ", c[i].shim->backend, c[i].shim->name);
    num(f, added, 4);
    fprintf(f, ", \"met\": %s}", strcmp(met(added), "met") ? "false" : "true");
  }
  fputs("},\n  \"notes\": [\n", f);
  for (size_t i = 0; i < sizeof notes / sizeof *notes; i++)
    fprintf(f, "    \"%s\"%s\n", notes[i], i + 1 < sizeof notes / sizeof *notes ? "," : "");
  fputs("  ]\n}\n", f);
}

static void write_md(FILE *f, const fsb_config *cfg, const char *date, const fsb_result *res, int n, const cmp *c,
                     int n_cmp, const fsb_ingest *ing, int n_ing) {
  fprintf(f, "# GetOnlineFeatures benchmark (%s)\n\n", date);
  fprintf(f, "One random entity of %d per lookup, all %d DOUBLE features; %g s warm-up, then %g s or %ld lookups "
             "per run, whichever ends first; %ld CPUs shared by client, shims and stores. Ingest through the shim "
             "(WriteRows):", cfg->entities, cfg->features, cfg->warmup_s, cfg->duration_s, cfg->max_lookups,
          sysconf(_SC_NPROCESSORS_ONLN));
  for (int i = 0; i < n_ing; i++) fprintf(f, "%s %s %.2f s", i ? "," : "", ing[i].backend, ing[i].seconds);
  char load[64];
  load_average(load, sizeof load);
  fprintf(f, ". Load average at the end of the run (1, 5, 15 min): %s", load);
  fputs(".\n\n| variant | back end | threads | lookups/s | p50 ms | p99 ms | lookups | errors |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|\n", f);
  for (int i = 0; i < n; i++)
    fprintf(f, "| %s | %s | %d | %.0f | %.3f | %.3f | %ld | %ld |\n", res[i].name, res[i].backend, res[i].threads,
            res[i].per_s, res[i].p50_ms, res[i].p99_ms, res[i].lookups, res[i].errors);
  fputs("\n| back end | threads | client (variant) | p50 added by the shim (ms) | a view read would add (ms) | "
        "p99 added (ms) | shim / direct lookups/s | target |\n|---|---:|---|---:|---:|---:|---:|---|\n", f);
  for (int i = 0; i < n_cmp; i++) {
    const fsb_result *s = c[i].shim, *d = c[i].direct;
    double added = s->p50_ms - d->p50_ms;
    fprintf(f, "| %s | %d | %s | %.3f | %.3f | %.3f | %.3f | ", s->backend, s->threads,
            strcmp(s->name, "shim") == 0 ? "gRPC core (shim)" : "nghttp2 (shim-h2)", added,
            c[i].view ? c[i].view->p50_ms - d->p50_ms : NAN, s->p99_ms - d->p99_ms, d->per_s > 0 ? s->per_s / d->per_s : NAN);
    if (s->threads == 1) fprintf(f, "<= %g (%s) |\n", TARGET_ADDED_P50_MS, met(added));
    else fputs("|\n", f);
  }
  fputs("\n", f);
  for (size_t i = 0; i < sizeof notes / sizeof *notes; i++) fprintf(f, "- %s\n", notes[i]);
}

static int write_file(const char *dir, const char *name, int json, const fsb_config *cfg, const char *date,
                      const struct utsname *un, const fsb_result *res, int n, const cmp *c, int n_cmp,
                      const fsb_ingest *ing, int n_ing) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    return -1;
  }
  if (json) write_json(f, cfg, date, un, res, n, c, n_cmp, ing, n_ing);
  else write_md(f, cfg, date, res, n, c, n_cmp, ing, n_ing);
  if (fclose(f) != 0) return -1;
  printf("fs_bench: wrote %s\n", path);
  return 0;
}

int fsb_report(const fsb_config *cfg, const fsb_result *res, int n_res, const fsb_ingest *ing, int n_ing) {
  cmp c[16];
  int n_cmp = pairs(res, n_res, c);
  char date[40];
  time_t now = time(NULL);
  struct tm tm;
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S+00:00", gmtime_r(&now, &tm));
  struct utsname un;
  if (uname(&un) != 0) strcpy(un.release, "?");
  if (write_file(cfg->out, "feature_store_online.json", 1, cfg, date, &un, res, n_res, c, n_cmp, ing, n_ing) != 0 ||
      write_file(cfg->out, "feature_store_online.md", 0, cfg, date, &un, res, n_res, c, n_cmp, ing, n_ing) != 0)
    return -1;
  putchar('\n');
  write_md(stdout, cfg, date, res, n_res, c, n_cmp, ing, n_ing);
  return 0;
}
