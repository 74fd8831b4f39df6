/*
 * fsb_direct.c - fs_bench straight at the stores, from C, doing what the
 * feature_store_shim back ends do for one key of a lookup:
 *   SQLite (services/feature_store/sqlite/fs_sqlite.c): BEGIN, the back
 *     end's own FS_SQL_LOOKUP statement (prepared once), COMMIT, reading
 *     feature, value and event time of every row. One read-only connection
 *     per client thread on the same database file the shim serves (WAL).
 *   Redis (services/feature_store/redis/fs_redis.c): HGETALL of the hash
 *     fs:row:<view>:<entity>, decoding each "v:<feature>" value ("d<%.17g>")
 *     and "t:<feature>" event time ("<sec> <nanos>"). One connection per
 *     client thread.
 * lookup() returns the number of DOUBLE values read.
 *
 * The "direct+view" variants first read the view definition the way the back
 * ends' get_view does (SQLite: FS_SQL_GET_VIEW and FS_SQL_GET_FEATURES; Redis:
 * HGETALL fs:view:<view>), as the shim did on every call before it cached definitions: the difference to
 * "direct" is that extra store round trip, the rest of the gap is gRPC and the
 * handler.
 */
#define _POSIX_C_SOURCE 200809L

#include <hiredis/hiredis.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_sqlite_schema.h"
#include "fsb.h"

/* ---- SQLite ------------------------------------------------------------------ */

static int with_view = 1; /* the address of this is the variants' "shared": read the view first */

typedef struct sq_state {
  sqlite3 *db;
  sqlite3_stmt *lookup, *view, *features; /* view, features: NULL unless with the view */
} sq_state;

static void sq_close(void *p) {
  sq_state *s = p;
  if (!s) return;
  sqlite3_finalize(s->lookup);
  sqlite3_finalize(s->view);
  sqlite3_finalize(s->features);
  sqlite3_close(s->db);
  free(s);
}

static void *sq_open(const fsb_config *cfg, void *shared) {
  sq_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  if (sqlite3_open_v2(cfg->db, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
      sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK ||
      sqlite3_prepare_v3(s->db, FS_SQL_LOOKUP, -1, SQLITE_PREPARE_PERSISTENT, &s->lookup, NULL) != SQLITE_OK ||
      (shared && (sqlite3_prepare_v3(s->db, FS_SQL_GET_VIEW, -1, SQLITE_PREPARE_PERSISTENT, &s->view, NULL) != SQLITE_OK ||
                  sqlite3_prepare_v3(s->db, FS_SQL_GET_FEATURES, -1, SQLITE_PREPARE_PERSISTENT, &s->features, NULL) !=
                      SQLITE_OK))) {
    fprintf(stderr, "fs_bench: sqlite %s: %s\n", cfg->db, s->db ? sqlite3_errmsg(s->db) : "out of memory");
    sq_close(s);
    return NULL;
  }
  return s;
}

/* Steps st (bound to the view's name) to its end, reading its text columns; 0 or -1. */
static int sq_read_all(sqlite3_stmt *st, size_t *bytes) {
  sqlite3_reset(st);
  sqlite3_bind_text(st, 1, FSB_VIEW, -1, SQLITE_STATIC);
  int c;
  while ((c = sqlite3_step(st)) == SQLITE_ROW)
    for (int i = 0; i < sqlite3_column_count(st); i++) *bytes += (size_t)sqlite3_column_bytes(st, i);
  sqlite3_reset(st);
  return c == SQLITE_DONE ? 0 : -1;
}

static int sq_lookup(void *p, const char *key) {
  sq_state *s = p;
  int n = 0;
  double sink = 0;
  size_t bytes = 0;
  if (s->view && (sq_read_all(s->view, &bytes) != 0 || sq_read_all(s->features, &bytes) != 0 || bytes == 0)) return -1;
  sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
  sqlite3_reset(s->lookup);
  sqlite3_bind_text(s->lookup, 1, FSB_VIEW, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->lookup, 2, key, -1, SQLITE_STATIC);
  int c;
  while ((c = sqlite3_step(s->lookup)) == SQLITE_ROW) {
    const unsigned char *feature = sqlite3_column_text(s->lookup, 0);
    if (!feature || sqlite3_column_type(s->lookup, 1) != SQLITE_FLOAT) continue;
    sink += sqlite3_column_double(s->lookup, 1);
    sink += (double)sqlite3_column_int64(s->lookup, 2) + (double)sqlite3_column_int(s->lookup, 3);
    n++;
  }
  sqlite3_reset(s->lookup);
  sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
  return c == SQLITE_DONE && sink == sink ? n : -1;
}

void fsb_direct_sqlite(fsb_variant *out, int view_too) {
  *out = (fsb_variant){.name = view_too ? "direct+view" : "direct", .backend = "sqlite", .open = sq_open,
                       .lookup = sq_lookup, .close = sq_close, .shared = view_too ? &with_view : NULL};
}

/* ---- Redis ------------------------------------------------------------------- */

typedef struct rd_state {
  redisContext *ctx;
  int with_view;
} rd_state;

static void rd_close(void *p) {
  rd_state *s = p;
  if (!s) return;
  if (s->ctx) redisFree(s->ctx);
  free(s);
}

static void *rd_open(const fsb_config *cfg, void *shared) {
  char host[256];
  const char *colon = strrchr(cfg->redis, ':');
  size_t hl = colon ? (size_t)(colon - cfg->redis) : 0;
  if (!colon || hl >= sizeof host) return NULL;
  memcpy(host, cfg->redis, hl);
  host[hl] = '\0';
  struct timeval tv = {.tv_sec = 10};
  redisContext *ctx = redisConnectWithTimeout(host, atoi(colon + 1), tv);
  if (!ctx || ctx->err) {
    fprintf(stderr, "fs_bench: redis %s: %s\n", cfg->redis, ctx ? ctx->errstr : "out of memory");
    if (ctx) redisFree(ctx);
    return NULL;
  }
  redisSetTimeout(ctx, tv);
  rd_state *s = calloc(1, sizeof *s);
  if (!s) {
    redisFree(ctx);
    return NULL;
  }
  *s = (rd_state){.ctx = ctx, .with_view = shared != NULL};
  return s;
}

static int rd_lookup(void *p, const char *key) {
  rd_state *s = p;
  if (s->with_view) {
    redisReply *v = redisCommand(s->ctx, "HGETALL fs:view:%s", FSB_VIEW);
    int ok = v && v->type == REDIS_REPLY_ARRAY && v->elements > 0;
    if (v) freeReplyObject(v);
    if (!ok) return -1;
  }
  redisReply *r = redisCommand(s->ctx, "HGETALL fs:row:%s:%s", FSB_VIEW, key);
  if (!r) return -1;
  int n = r->type == REDIS_REPLY_ARRAY ? 0 : -1;
  double sink = 0;
  for (size_t i = 0; n >= 0 && i + 1 < r->elements; i += 2) {
    const redisReply *f = r->element[i], *v = r->element[i + 1];
    if (f->len < 3 || f->str[1] != ':') continue;
    char *end;
    if (f->str[0] == 'v' && v->len > 1 && v->str[0] == 'd') {
      sink += strtod(v->str + 1, &end);
      if (end == v->str + v->len) n++;
    } else if (f->str[0] == 't') {
      long long sec = strtoll(v->str, &end, 10);
      sink += (double)sec + (double)strtol(end, NULL, 10);
    }
  }
  freeReplyObject(r);
  return sink == sink ? n : -1;
}

void fsb_direct_redis(fsb_variant *out, int view_too) {
  *out = (fsb_variant){.name = view_too ? "direct+view" : "direct", .backend = "redis", .open = rd_open,
                       .lookup = rd_lookup, .close = rd_close, .shared = view_too ? &with_view : NULL};
}
