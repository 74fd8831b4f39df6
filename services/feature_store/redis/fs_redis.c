/*
 * fs_redis.c - the Redis native adapter (see fs_redis.h): commands built as
 * argument vectors (binary-safe entity keys and strings), reads pipelined,
 * writes, creates and deletes as Lua scripts (fs_redis_scripts.h), all run
 * through fs_redis_conn so that a Redis restart is survived.
 *
 * Values are stored as a type letter and text: "i42", "d0.5" (%.17g, exact),
 * "sfoo", "b1"; a stored value whose letter does not match the view's type
 * is reported as FS_CORRUPT.
 */
#define _POSIX_C_SOURCE 200809L

#include "fs_redis.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_convert.h"
#include "fs_redis_conn.h"
#include "fs_redis_scripts.h"

/* ---- argument vectors ---------------------------------------------------------- */

typedef struct argvb {
  const char **v; /* arguments (malloc'd array) */
  size_t *len;    /* their lengths */
  size_t n, cap;  /* used, allocated */
  fs_mem *mem;    /* formatted arguments live here */
  int failed;     /* out of memory at some point */
} argvb;

static void arg(argvb *a, const char *s, size_t len) {
  if (a->failed) return;
  if (a->n == a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 64;
    const char **v = realloc(a->v, cap * sizeof *v);
    if (v) a->v = v;
    size_t *l = realloc(a->len, cap * sizeof *l);
    if (l) a->len = l;
    if (!v || !l) {
      a->failed = 1;
      return;
    }
    a->cap = cap;
  }
  a->v[a->n] = s;
  a->len[a->n++] = len;
}

static void args(argvb *a, const char *s) { arg(a, s, strlen(s)); }

static void argf(argvb *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argf(argvb *a, const char *fmt, ...) {
  char buf[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char *s = n >= 0 && (size_t)n < sizeof buf ? fs_mem_strndup(a->mem, buf, (size_t)n) : NULL;
  if (!s) a->failed = 1;
  else arg(a, s, (size_t)n);
}

/* prefix + view + ":" + key, as one argument. */
static void arg_key(argvb *a, const char *prefix, const char *view, const char *key) {
  size_t pl = strlen(prefix), vl = strlen(view), kl = key ? strlen(key) : 0;
  char *s = fs_mem_alloc(a->mem, pl + vl + 1 + kl + 1);
  if (!s) {
    a->failed = 1;
    return;
  }
  memcpy(s, prefix, pl);
  memcpy(s + pl, view, vl);
  size_t n = pl + vl;
  if (key) {
    s[n++] = ':';
    memcpy(s + n, key, kl);
    n += kl;
  }
  s[n] = '\0';
  arg(a, s, n);
}

static void argvb_free(argvb *a) {
  free(a->v);
  free(a->len);
}

/* Any failure inside a pipeline leaves replies unread: drop the connection instead of reading them. */
static fs_rc poison(redisContext *ctx, fs_rc rc) {
  if (rc != FS_OK && !ctx->err) ctx->err = REDIS_ERR_OTHER;
  return rc;
}

static redisReply *run_argv(redisContext *ctx, argvb *a, const char *what, fs_rc *rc, fs_err *err) {
  if (a->failed) {
    *rc = fs_fail(err, FS_FULL, "out of memory");
    return NULL;
  }
  return fs_redis_reply(ctx, redisCommandArgv(ctx, (int)a->n, a->v, a->len), what, rc, err);
}

/* ---- values ---------------------------------------------------------------------- */

static void arg_value(argvb *a, const fs_value *v) {
  switch (v->type) {
    case FS_TYPE_INT64: argf(a, "i%" PRId64, v->u.i); break;
    case FS_TYPE_DOUBLE: argf(a, "d%.17g", v->u.d); break;
    case FS_TYPE_BOOL: args(a, v->u.b ? "b1" : "b0"); break;
    case FS_TYPE_STRING: {
      size_t l = strlen(v->u.s);
      char *s = fs_mem_alloc(a->mem, l + 2);
      if (!s) {
        a->failed = 1;
        return;
      }
      s[0] = 's';
      memcpy(s + 1, v->u.s, l + 1);
      arg(a, s, l + 1);
      break;
    }
    default: a->failed = 1;
  }
}

/* A stored value as type t: 0, -1 malformed, -2 out of memory. */
static int parse_value(const char *s, size_t len, fs_type t, fs_mem *mem, fs_value *out) {
  static const char letters[] = {[FS_TYPE_INT64] = 'i', [FS_TYPE_DOUBLE] = 'd', [FS_TYPE_STRING] = 's', [FS_TYPE_BOOL] = 'b'};
  if (len < 1 || t < FS_TYPE_INT64 || t > FS_TYPE_BOOL || s[0] != letters[t]) return -1;
  out->type = t;
  char *end = NULL;
  errno = 0;
  switch (t) {
    case FS_TYPE_INT64: out->u.i = strtoll(s + 1, &end, 10); break;
    case FS_TYPE_DOUBLE: out->u.d = strtod(s + 1, &end); break;
    case FS_TYPE_BOOL: out->u.b = s[1] == '1'; return len == 2 ? 0 : -1;
    default: return (out->u.s = fs_mem_strndup(mem, s + 1, len - 1)) ? 0 : -2;
  }
  return end == s + len && errno == 0 ? 0 : -1;
}

/* "<sec> <nanos>" (as the write script stores it); strtoll, not sscanf: this runs for every value read. */
static int parse_time(const char *s, fs_time *t) {
  char *end;
  errno = 0;
  long long sec = strtoll(s, &end, 10);
  if (end == s || *end != ' ' || errno) return -1;
  const char *n = end + 1;
  long ns = strtol(n, &end, 10);
  if (end == n || *end || errno || ns < 0 || ns > 999999999) return -1;
  *t = (fs_time){sec, (int32_t)ns};
  return 0;
}

/* The cells of one fs:row hash (HGETALL reply). */
static fs_rc parse_row(const redisReply *r, const fs_view *view, const char *key, fs_mem *mem, fs_entity *out,
                       fs_err *err) {
  if (r->type != REDIS_REPLY_ARRAY) return fs_fail(err, FS_ERROR, "unexpected reply to HGETALL");
  size_t cap = r->elements / 2 + 1; /* at most one cell per field */
  fs_cell *cells = fs_mem_alloc(mem, cap * sizeof *cells);
  /* per feature of the view: 1 + element index of its "v:" and "t:" values, or 0 */
  size_t *vpos = fs_mem_alloc(mem, (view->n_features ? view->n_features : 1) * 2 * sizeof *vpos);
  if (!cells || !vpos) return fs_fail(err, FS_FULL, "out of memory");
  size_t *tpos = vpos + view->n_features;
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    const redisReply *f = r->element[i];
    if (f->len < 3 || (f->str[0] != 'v' && f->str[0] != 't') || f->str[1] != ':') continue;
    long fi = fs_view_feature(view, f->str + 2);
    if (fi < 0) continue; /* not a feature of this definition */
    (f->str[0] == 'v' ? vpos : tpos)[fi] = i + 2;
  }
  size_t n = 0;
  for (size_t fi = 0; fi < view->n_features; fi++) {
    if (!vpos[fi]) continue;
    const redisReply *v = r->element[vpos[fi] - 1];
    const char *fname = view->features[fi].name;
    fs_cell *c = &cells[n];
    c->feature = fi;
    int pr = parse_value(v->str, v->len, view->features[fi].type, mem, &c->value);
    if (pr == -2) return fs_fail(err, FS_FULL, "out of memory");
    if (pr < 0) return fs_fail(err, FS_CORRUPT, "stored value of \"%s\" for entity \"%.200s\" is not a %s", fname, key, fs_type_name(view->features[fi].type));
    if (!tpos[fi] || parse_time(r->element[tpos[fi] - 1]->str, &c->time) != 0)
      return fs_fail(err, FS_CORRUPT, "stored value of \"%s\" for entity \"%.200s\" has no event time", fname, key);
    n++;
  }
  out->n_cells = n;
  out->cells = cells;
  return FS_OK;
}

/* ---- views ------------------------------------------------------------------------ */

typedef struct view_arg {
  const fs_view *view; /* create: the definition */
  const char *name;    /* get/delete: its name */
  fs_mem *mem;         /* get: result memory */
  fs_view *out;        /* get: result */
} view_arg;

static fs_rc op_create(redisContext *ctx, void *p, fs_err *err) {
  view_arg *va = p;
  const fs_view *v = va->view;
  fs_mem mem;
  fs_mem_init(&mem, FS_MEM_LIMIT);
  argvb a = {.mem = &mem};
  args(&a, "EVAL");
  args(&a, FS_LUA_CREATE);
  args(&a, "2");
  args(&a, "fs:views");
  arg_key(&a, "fs:view:", v->name, NULL);
  args(&a, v->name);
  args(&a, "entity_key"), args(&a, v->entity_key);
  args(&a, "description"), args(&a, v->description);
  args(&a, "created"), argf(&a, "%lld %d", (long long)v->created.sec, (int)v->created.nanos);
  args(&a, "n"), argf(&a, "%zu", v->n_features);
  for (size_t i = 0; i < v->n_features; i++) {
    argf(&a, "f.%zu.name", i), args(&a, v->features[i].name);
    argf(&a, "f.%zu.type", i), argf(&a, "%d", (int)v->features[i].type);
    argf(&a, "f.%zu.desc", i), args(&a, v->features[i].description);
  }
  fs_rc rc;
  redisReply *r = run_argv(ctx, &a, "create view", &rc, err);
  if (r) {
    if (r->type != REDIS_REPLY_INTEGER) rc = fs_fail(err, FS_ERROR, "unexpected reply to create view");
    else if (r->integer == 0) rc = fs_fail(err, FS_EXISTS, "view %s exists", v->name);
    freeReplyObject(r);
  }
  argvb_free(&a);
  fs_mem_free(&mem);
  return rc;
}

static const redisReply *hfield(const redisReply *r, const char *name) {
  for (size_t i = 0; i + 1 < r->elements; i += 2)
    if (strcmp(r->element[i]->str, name) == 0) return r->element[i + 1];
  return NULL;
}

/* A view from its HGETALL reply. */
static fs_rc parse_view(const redisReply *r, const char *name, fs_mem *mem, fs_view *out, fs_err *err) {
  if (r->type != REDIS_REPLY_ARRAY) return fs_fail(err, FS_ERROR, "unexpected reply to HGETALL");
  if (r->elements == 0) return fs_fail(err, FS_NOT_FOUND, "no view %s", name);
  const redisReply *ek = hfield(r, "entity_key"), *d = hfield(r, "description"), *cr = hfield(r, "created"),
                   *n = hfield(r, "n");
  size_t nf = n ? strtoul(n->str, NULL, 10) : 0;
  if (!ek || !d || !cr || !nf || nf > FS_MAX_FEATURES)
    return fs_fail(err, FS_CORRUPT, "definition of view %s is incomplete", name);
  fs_feature *f = fs_mem_alloc(mem, nf * sizeof *f);
  *out = (fs_view){.name = fs_mem_strdup(mem, name), .entity_key = fs_mem_strndup(mem, ek->str, ek->len),
                   .description = fs_mem_strndup(mem, d->str, d->len), .n_features = nf, .features = f};
  if (!f || !out->name || !out->entity_key || !out->description) return fs_fail(err, FS_FULL, "out of memory");
  parse_time(cr->str, &out->created);
  for (size_t i = 0; i < nf; i++) {
    char k[48];
    snprintf(k, sizeof k, "f.%zu.name", i);
    const redisReply *fname = hfield(r, k);
    snprintf(k, sizeof k, "f.%zu.type", i);
    const redisReply *ftype = hfield(r, k);
    snprintf(k, sizeof k, "f.%zu.desc", i);
    const redisReply *fdesc = hfield(r, k);
    if (!fname || !ftype) return fs_fail(err, FS_CORRUPT, "definition of view %s lacks feature %zu", name, i);
    f[i] = (fs_feature){.name = fs_mem_strndup(mem, fname->str, fname->len),
                        .type = (fs_type)atoi(ftype->str),
                        .description = fdesc ? fs_mem_strndup(mem, fdesc->str, fdesc->len) : ""};
    if (!f[i].name || !f[i].description) return fs_fail(err, FS_FULL, "out of memory");
  }
  return FS_OK;
}

static fs_rc op_get(redisContext *ctx, void *p, fs_err *err) {
  view_arg *va = p;
  fs_rc rc;
  redisReply *r = fs_redis_reply(ctx, redisCommand(ctx, "HGETALL fs:view:%s", va->name), "get view", &rc, err);
  if (!r) return rc;
  rc = parse_view(r, va->name, va->mem, va->out, err);
  freeReplyObject(r);
  return rc;
}

static fs_rc op_delete(redisContext *ctx, void *p, fs_err *err) {
  view_arg *va = p;
  fs_rc rc;
  redisReply *r = fs_redis_reply(
      ctx, redisCommand(ctx, "EVAL %s 3 fs:views fs:view:%s fs:ents:%s %s fs:row:%s:", FS_LUA_DELETE, va->name,
                        va->name, va->name, va->name),
      "delete view", &rc, err);
  if (!r) return rc;
  if (r->type != REDIS_REPLY_INTEGER) rc = fs_fail(err, FS_ERROR, "unexpected reply to delete view");
  else if (r->integer == 0) rc = fs_fail(err, FS_NOT_FOUND, "no view %s", va->name);
  freeReplyObject(r);
  return rc;
}

typedef struct list_arg {
  const char *after; /* names after this one */
  size_t limit;      /* at most this many */
  fs_mem *mem;       /* result memory */
  fs_view *out;      /* limit slots */
  size_t n;          /* filled */
} list_arg;

/* "-" for the start, else "(" + after: ZRANGEBYLEX bounds. */
static const char *lex_after(fs_mem *mem, const char *after) {
  if (!after[0]) return "-";
  size_t l = strlen(after);
  char *s = fs_mem_alloc(mem, l + 2);
  if (s) {
    s[0] = '(';
    memcpy(s + 1, after, l + 1);
  }
  return s;
}

static fs_rc op_list(redisContext *ctx, void *p, fs_err *err) {
  list_arg *la = p;
  la->n = 0;
  const char *min = lex_after(la->mem, la->after);
  if (!min) return fs_fail(err, FS_FULL, "out of memory");
  fs_rc rc;
  redisReply *names = fs_redis_reply(
      ctx, redisCommand(ctx, "ZRANGEBYLEX fs:views %s + LIMIT 0 %llu", min, (unsigned long long)la->limit), "list views", &rc, err);
  if (!names) return rc;
  for (size_t i = 0; i < names->elements; i++) redisAppendCommand(ctx, "HGETALL fs:view:%s", names->element[i]->str);
  for (size_t i = 0; i < names->elements; i++) {
    redisReply *r = fs_redis_next_reply(ctx, "list views", &rc, err);
    if (!r) break;
    if (rc == FS_OK) rc = parse_view(r, names->element[i]->str, la->mem, &la->out[la->n], err);
    freeReplyObject(r);
    if (rc == FS_NOT_FOUND) rc = FS_OK; /* deleted meanwhile */
    else if (rc == FS_OK) la->n++;
    else break;
  }
  freeReplyObject(names);
  return poison(ctx, rc);
}

/* ---- rows ---------------------------------------------------------------------------- */

typedef struct rows_arg {
  const fs_view *view;     /* the view */
  const fs_entity *rows;   /* write: the batch */
  size_t n_rows;           /* write: its size */
  const char *const *keys; /* lookup: the keys */
  size_t n_keys;           /* lookup: how many */
  const char *after;       /* scan: keys after this */
  size_t limit;            /* scan: at most this many */
  fs_mem *mem;             /* lookup/scan: result memory */
  fs_entity *out;          /* lookup: n_keys slots */
  fs_entity **scan_out;    /* scan: result */
  size_t *scan_n;          /* scan: its size */
} rows_arg;

static fs_rc op_write(redisContext *ctx, void *p, fs_err *err) {
  rows_arg *ra = p;
  const fs_view *v = ra->view;
  fs_mem mem;
  fs_mem_init(&mem, FS_MEM_LIMIT);
  argvb a = {.mem = &mem};
  args(&a, "EVAL");
  args(&a, FS_LUA_WRITE);
  argf(&a, "%zu", ra->n_rows + 2);
  arg_key(&a, "fs:view:", v->name, NULL);
  arg_key(&a, "fs:ents:", v->name, NULL);
  for (size_t r = 0; r < ra->n_rows; r++) arg_key(&a, "fs:row:", v->name, ra->rows[r].key);
  argf(&a, "%lld %d", (long long)v->created.sec, (int)v->created.nanos); /* as op_create stores it */
  for (size_t r = 0; r < ra->n_rows; r++) {
    const fs_entity *e = &ra->rows[r];
    fs_time t = e->n_cells ? e->cells[0].time : (fs_time){0, 0}; /* one event time per row */
    args(&a, e->key);
    argf(&a, "%lld", (long long)t.sec);
    argf(&a, "%d", (int)t.nanos);
    argf(&a, "%zu", e->n_cells);
    for (size_t c = 0; c < e->n_cells; c++) {
      args(&a, v->features[e->cells[c].feature].name);
      arg_value(&a, &e->cells[c].value);
    }
  }
  fs_rc rc;
  redisReply *r = run_argv(ctx, &a, "write", &rc, err);
  if (r) freeReplyObject(r);
  argvb_free(&a);
  fs_mem_free(&mem);
  return rc;
}

/* Sends HGETALL for each key, then reads the replies into out[i]. */
static fs_rc fetch_rows(redisContext *ctx, const fs_view *v, const char *const *keys, size_t n, fs_mem *mem,
                        fs_entity *out, fs_err *err) {
  for (size_t i = 0; i < n; i++)
    redisAppendCommand(ctx, "HGETALL fs:row:%s:%b", v->name, keys[i], strlen(keys[i]));
  fs_rc rc = FS_OK;
  for (size_t i = 0; i < n; i++) {
    redisReply *r = fs_redis_next_reply(ctx, "read rows", &rc, err);
    if (!r) break;
    out[i].key = keys[i];
    rc = parse_row(r, v, keys[i], mem, &out[i], err);
    freeReplyObject(r);
    if (rc != FS_OK) break;
  }
  return poison(ctx, rc);
}

/*
 * HGETALL of each key and, in the same pipeline after them, the view's
 * "created": when that still is view->created, no other definition of the
 * view existed while the rows were read (a re-created view has another
 * created time), so the rows are parsed with view; else FS_NOT_FOUND.
 */
static fs_rc op_lookup(redisContext *ctx, void *p, fs_err *err) {
  rows_arg *ra = p;
  const fs_view *v = ra->view;
  size_t n = ra->n_keys;
  redisReply **rows = calloc(n ? n : 1, sizeof *rows);
  if (!rows) return fs_fail(err, FS_FULL, "out of memory");
  for (size_t i = 0; i < n; i++)
    redisAppendCommand(ctx, "HGETALL fs:row:%s:%b", v->name, ra->keys[i], strlen(ra->keys[i]));
  redisAppendCommand(ctx, "HGET fs:view:%s created", v->name);
  fs_rc rc = FS_OK;
  size_t got = 0;
  for (; got < n; got++)
    if (!(rows[got] = fs_redis_next_reply(ctx, "read rows", &rc, err))) break;
  redisReply *created = rc == FS_OK ? fs_redis_next_reply(ctx, "read rows", &rc, err) : NULL;
  if (rc == FS_OK) {
    char want[48];
    snprintf(want, sizeof want, "%lld %d", (long long)v->created.sec, (int)v->created.nanos);
    if (created->type != REDIS_REPLY_STRING || strcmp(created->str, want) != 0)
      rc = fs_fail(err, FS_NOT_FOUND, "no view %s of that definition", v->name);
  }
  for (size_t i = 0; i < n && rc == FS_OK; i++) {
    ra->out[i].key = ra->keys[i];
    rc = parse_row(rows[i], v, ra->keys[i], ra->mem, &ra->out[i], err);
  }
  if (created) freeReplyObject(created);
  for (size_t i = 0; i < got; i++) freeReplyObject(rows[i]);
  free(rows);
  if (got < n || !created) return poison(ctx, rc); /* replies left unread */
  return rc;
}

static fs_rc op_scan(redisContext *ctx, void *p, fs_err *err) {
  rows_arg *ra = p;
  *ra->scan_n = 0;
  const char *min = lex_after(ra->mem, ra->after);
  if (!min) return fs_fail(err, FS_FULL, "out of memory");
  fs_rc rc;
  redisReply *ks = fs_redis_reply(
      ctx, redisCommand(ctx, "ZRANGEBYLEX fs:ents:%s %b + LIMIT 0 %llu", ra->view->name, min, strlen(min),
                        (unsigned long long)ra->limit),
      "scan", &rc, err);
  if (!ks) return rc;
  size_t n = ks->elements;
  const char **keys = fs_mem_alloc(ra->mem, (n ? n : 1) * sizeof *keys);
  fs_entity *ents = fs_mem_alloc(ra->mem, (n ? n : 1) * sizeof *ents);
  rc = keys && ents ? FS_OK : fs_fail(err, FS_FULL, "out of memory");
  for (size_t i = 0; i < n && rc == FS_OK; i++)
    if (!(keys[i] = fs_mem_strndup(ra->mem, ks->element[i]->str, ks->element[i]->len)))
      rc = fs_fail(err, FS_FULL, "out of memory");
  freeReplyObject(ks);
  if (rc == FS_OK) rc = fetch_rows(ctx, ra->view, keys, n, ra->mem, ents, err);
  if (rc == FS_OK) {
    *ra->scan_out = ents;
    *ra->scan_n = n;
  }
  return rc;
}

/* ---- the adapter ------------------------------------------------------------------------ */

static fs_rc create_view(void *be, const fs_view *view, fs_err *err) {
  view_arg va = {.view = view};
  return fs_redis_run(be, 0, op_create, &va, err);
}

static fs_rc get_view(void *be, const char *name, fs_mem *mem, fs_view *out, fs_err *err) {
  view_arg va = {.name = name, .mem = mem, .out = out};
  return fs_redis_run(be, 1, op_get, &va, err);
}

static fs_rc list_views(void *be, const char *after, size_t limit, fs_mem *mem, fs_view **out, size_t *n_out,
                        fs_err *err) {
  list_arg la = {.after = after, .limit = limit, .mem = mem, .out = fs_mem_alloc(mem, (limit ? limit : 1) * sizeof(fs_view))};
  *n_out = 0;
  if (!la.out) return fs_fail(err, FS_FULL, "out of memory");
  fs_rc rc = fs_redis_run(be, 1, op_list, &la, err);
  *out = la.out;
  *n_out = rc == FS_OK ? la.n : 0;
  return rc;
}

static fs_rc delete_view(void *be, const char *name, fs_err *err) {
  view_arg va = {.name = name};
  return fs_redis_run(be, 0, op_delete, &va, err);
}

static fs_rc write_rows(void *be, const fs_view *view, const fs_entity *rows, size_t n_rows, fs_err *err) {
  rows_arg ra = {.view = view, .rows = rows, .n_rows = n_rows};
  return fs_redis_run(be, 1, op_write, &ra, err); /* idempotent: latest wins, ties rewrite the same value */
}

static fs_rc lookup(void *be, const fs_view *view, const char *const *keys, size_t n_keys, fs_mem *mem,
                    fs_entity *out, fs_err *err) {
  rows_arg ra = {.view = view, .keys = keys, .n_keys = n_keys, .mem = mem, .out = out};
  return fs_redis_run(be, 1, op_lookup, &ra, err);
}

static fs_rc scan(void *be, const fs_view *view, const char *after, size_t limit, fs_mem *mem, fs_entity **out,
                  size_t *n_out, fs_err *err) {
  rows_arg ra = {.view = view, .after = after, .limit = limit, .mem = mem, .scan_out = out, .scan_n = n_out};
  return fs_redis_run(be, 1, op_scan, &ra, err);
}

static void close_redis(void *be) { fs_redis_conn_free(be); }

static const fs_backend_ops redis_ops = {
    .name = "redis",
    .create_view = create_view,
    .get_view = get_view,
    .list_views = list_views,
    .delete_view = delete_view,
    .write = write_rows,
    .lookup = lookup,
    .scan = scan,
    .close = close_redis,
};

int fs_redis_open(const char *addr, fs_backend *out, fs_err *err) {
  fs_redis_conn *c = fs_redis_conn_new(addr, err);
  if (!c) return -1;
  fs_err ping_err;
  if (fs_redis_run(c, 1, fs_redis_ping, NULL, &ping_err) != FS_OK)
    fprintf(stderr, "feature_store_shim: warning: %s (serving anyway; calls answer UNAVAILABLE until then)\n",
            ping_err.msg);
  *out = (fs_backend){.ops = &redis_ops, .be = c};
  return 0;
}
