/*
 * pg_backend.c - model repository back end on PostgreSQL via libpq.
 *
 * Every operation takes a pooled connection, runs its statements (in a
 * transaction when it changes more than one row) and gives it back. A
 * connection that broke while idle (PostgreSQL restarted) is detected on its
 * first statement; the operation is then retried once on a new connection,
 * so callers see UNAVAILABLE only while PostgreSQL really is down. Errors:
 * connection loss and SQLSTATE classes 08/57P -> MR_UNAVAILABLE, unique
 * violation -> MR_EXISTS, anything else -> MR_FAILED with PostgreSQL's text.
 *
 * An upload holds one connection and one transaction from begin to commit:
 * its chunks are inserted as they arrive (in rows of up to PG_ROW_BYTES)
 * and become visible only with the version row at COMMIT. A cut-off upload
 * is rolled back (or dies with its connection): nothing is stored.
 */
#define _POSIX_C_SOURCE 200809L
#include "pg_backend.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_pool.h"
#include "pg_schema.h"

#define PG_POOL_MAX 16
#define PG_ROW_BYTES (256u * 1024u)
#define PG_MAX_PARAMS 10

typedef struct pg_repo {
  pg_pool *pool;
  atomic_int schema_ready; /* 1 once the schema was created on some connection */
} pg_repo;

/* ---- statements ----------------------------------------------------------------- */

typedef struct pg_params {
  int n;
  const char *v[PG_MAX_PARAMS];
  int len[PG_MAX_PARAMS];
  int fmt[PG_MAX_PARAMS];
  char num[PG_MAX_PARAMS][24];
} pg_params;

static void p_text(pg_params *p, const char *s) {
  p->v[p->n] = s ? s : "";
  p->len[p->n] = 0;
  p->fmt[p->n++] = 0;
}

static void p_i64(pg_params *p, int64_t x) {
  snprintf(p->num[p->n], sizeof p->num[p->n], "%" PRId64, x);
  p_text(p, p->num[p->n]);
}

static void p_bytes(pg_params *p, const void *b, size_t len) {
  p->v[p->n] = len ? b : "";
  p->len[p->n] = (int)len;
  p->fmt[p->n++] = 1;
}

/* Trims libpq's trailing newline off err->msg. */
static void trim(mr_err *err) {
  size_t len = strlen(err->msg);
  while (len && (err->msg[len - 1] == '\n' || err->msg[len - 1] == ' ')) err->msg[--len] = '\0';
}

/* Runs sql; the result (to PQclear) or NULL with *rc and err set. */
static PGresult *q(PGconn *c, const char *sql, const pg_params *p, int binary, mr_rc *rc, mr_err *err) {
  /* Without parameters: PQexec, which also runs several statements (the schema). */
  PGresult *res = p || binary ? PQexecParams(c, sql, p ? p->n : 0, NULL, p ? p->v : NULL, p ? p->len : NULL,
                                             p ? p->fmt : NULL, binary)
                              : PQexec(c, sql);
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    *rc = MR_OK;
    return res;
  }
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c);
  if (!msg || !msg[0]) msg = PQerrorMessage(c);
  if (PQstatus(c) != CONNECTION_OK || (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)))
    *rc = mr_err_set(err, MR_UNAVAILABLE, "PostgreSQL is unavailable: %s", msg);
  else if (state && strcmp(state, "23505") == 0)
    *rc = mr_err_set(err, MR_EXISTS, "PostgreSQL: %s", msg);
  else
    *rc = mr_err_set(err, MR_FAILED, "PostgreSQL: %s", msg);
  trim(err);
  PQclear(res);
  return NULL;
}

/* Runs a statement whose result is not needed. */
static mr_rc exec(PGconn *c, const char *sql, const pg_params *p, mr_err *err) {
  mr_rc rc;
  PQclear(q(c, sql, p, 0, &rc, err));
  return rc;
}

/* Runs a statement that changes rows; *changed = how many. */
static mr_rc exec_count(PGconn *c, const char *sql, const pg_params *p, long *changed, mr_err *err) {
  mr_rc rc;
  PGresult *res = q(c, sql, p, 0, &rc, err);
  if (res) *changed = strtol(PQcmdTuples(res), NULL, 10);
  PQclear(res);
  return rc;
}

static int64_t col_i64(const PGresult *res, int row, int col) {
  return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static char *col_text(mr_arena *a, const PGresult *res, int row, int col) {
  return mr_arena_strdup(a, PQgetvalue(res, row, col));
}

static uint8_t *col_bytea(mr_arena *a, const PGresult *res, int row, int col, size_t *len) {
  unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), len);
  if (!raw) return NULL;
  uint8_t *copy = mr_arena_memdup(a, raw, *len);
  PQfreemem(raw);
  return copy;
}

/* ---- running an operation on a pooled connection ---------------------------------- */

/* Arguments of every operation, in one struct so that one runner serves all. */
typedef struct pg_args {
  const char *model, *alias, *prefix, *after;
  uint64_t version, after_version;
  int status;
  int64_t now_ns;
  size_t limit;
  const mr_model *model_in;
  const mr_alias *alias_in;
  mr_arena *arena;
  mr_model *model_out;
  mr_version *version_out;
  mr_model **models;
  mr_version **versions;
  mr_alias **aliases;
  size_t *n;
  uint64_t *version_ptr;
  int64_t artifact_id; /* artifact reads */
  int seq;
  PGresult *result; /* artifact reads: the row fetched */
} pg_args;

typedef mr_rc (*pg_op)(PGconn *c, pg_args *a, mr_err *err);

static mr_rc ensure_schema(pg_repo *r, PGconn *c, mr_err *err) {
  if (atomic_load(&r->schema_ready)) return MR_OK;
  mr_rc rc = exec(c, "BEGIN", NULL, err);
  if (rc == MR_OK) rc = exec(c, PG_SCHEMA_LOCK, NULL, err);
  if (rc == MR_OK) rc = exec(c, PG_SCHEMA_SQL, NULL, err);
  if (rc == MR_OK) rc = exec(c, "COMMIT", NULL, err);
  if (rc == MR_OK) atomic_store(&r->schema_ready, 1);
  return rc;
}

/* A connection with the schema in place; on UNAVAILABLE from a reused one, one retry. */
static mr_rc acquire(pg_repo *r, PGconn **c, int *fresh, mr_err *err) {
  mr_rc rc = pg_pool_get(r->pool, c, fresh, err);
  if (rc != MR_OK) return rc;
  rc = ensure_schema(r, *c, err);
  if (rc != MR_OK) {
    pg_pool_put(r->pool, *c);
    *c = NULL;
  }
  return rc;
}

static void release(pg_repo *r, PGconn *c) {
  if (c && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
    PQclear(PQexec(c, "ROLLBACK"));
  pg_pool_put(r->pool, c);
}

static mr_rc run(pg_repo *r, pg_op op, pg_args *a, mr_err *err) {
  for (int attempt = 0;; attempt++) {
    PGconn *c;
    int fresh;
    mr_rc rc = acquire(r, &c, &fresh, err);
    if (rc == MR_OK) {
      rc = op(c, a, err);
      int broken = PQstatus(c) != CONNECTION_OK;
      release(r, c);
      /* A connection that died while idle: PostgreSQL may be back; try a new one. */
      if (rc == MR_UNAVAILABLE && broken && !fresh && attempt == 0) continue;
    } else if (rc == MR_UNAVAILABLE && !fresh && attempt == 0) {
      continue;
    }
    return rc;
  }
}

/* ---- lookups shared by operations ---------------------------------------------------- */

/* MR_OK when the model exists, else its NOT_FOUND (or the failure). */
static mr_rc need_model(PGconn *c, const char *model, int lock, mr_err *err) {
  pg_params p = {0};
  p_text(&p, model);
  mr_rc rc;
  PGresult *res = q(c, lock ? "SELECT 1 FROM mr_models WHERE name = $1 FOR UPDATE"
                            : "SELECT 1 FROM mr_models WHERE name = $1",
                    &p, 0, &rc, err);
  if (!res) return rc;
  rc = PQntuples(res) ? MR_OK : mr_err_no_model(err, model);
  PQclear(res);
  return rc;
}

static mr_rc version_missing(PGconn *c, const char *model, uint64_t version, mr_err *err) {
  mr_rc rc = need_model(c, model, 0, err);
  return rc == MR_OK ? mr_err_no_version(err, model, version) : rc;
}

static mr_rc alias_missing(PGconn *c, const char *model, const char *alias, mr_err *err) {
  mr_rc rc = need_model(c, model, 0, err);
  return rc == MR_OK ? mr_err_no_alias(err, model, alias) : rc;
}

static mr_rc touch(PGconn *c, const char *model, int64_t now_ns, mr_err *err) {
  if (!now_ns) return MR_OK;
  pg_params p = {0};
  p_i64(&p, now_ns);
  p_text(&p, model);
  return exec(c, "UPDATE mr_models SET updated_ns = $1 WHERE name = $2", &p, err);
}

static mr_rc oom(mr_err *err) {
  return mr_err_set(err, MR_FAILED, "out of memory");
}

/* ---- models ------------------------------------------------------------------------ */

static mr_rc op_create_model(PGconn *c, pg_args *a, mr_err *err) {
  const mr_model *m = a->model_in;
  pg_params p = {0};
  p_text(&p, m->name);
  p_text(&p, m->description);
  p_bytes(&p, m->tags, m->tags_len);
  p_i64(&p, m->created_ns);
  p_i64(&p, m->updated_ns);
  mr_rc rc = exec(c, "INSERT INTO mr_models (name, description, tags, created_ns, updated_ns) "
                     "VALUES ($1, $2, $3, $4, $5)", &p, err);
  return rc == MR_EXISTS ? mr_err_model_exists(err, m->name) : rc;
}

#define MODEL_SELECT                                                                       \
  "SELECT name, description, tags, created_ns, updated_ns, "                               \
  "  (SELECT coalesce(max(version), 0) FROM mr_versions v WHERE v.model = m.name) FROM mr_models m "

static int row_to_model(mr_arena *ar, const PGresult *res, int row, mr_model *m) {
  m->name = col_text(ar, res, row, 0);
  m->description = col_text(ar, res, row, 1);
  m->tags = col_bytea(ar, res, row, 2, &m->tags_len);
  m->created_ns = col_i64(res, row, 3);
  m->updated_ns = col_i64(res, row, 4);
  m->latest_version = (uint64_t)col_i64(res, row, 5);
  return m->name && m->description && m->tags ? 0 : -1;
}

static mr_rc op_get_model(PGconn *c, pg_args *a, mr_err *err) {
  pg_params p = {0};
  p_text(&p, a->model);
  mr_rc rc;
  PGresult *res = q(c, MODEL_SELECT "WHERE name = $1", &p, 0, &rc, err);
  if (!res) return rc;
  if (PQntuples(res) == 0)
    rc = mr_err_no_model(err, a->model);
  else if (row_to_model(a->arena, res, 0, a->model_out) != 0)
    rc = oom(err);
  PQclear(res);
  return rc;
}

static mr_rc op_list_models(PGconn *c, pg_args *a, mr_err *err) {
  pg_params p = {0};
  p_text(&p, a->after);
  p_text(&p, a->prefix);
  p_i64(&p, (int64_t)a->limit);
  mr_rc rc;
  PGresult *res = q(c, MODEL_SELECT "WHERE name > $1 AND starts_with(name, $2) ORDER BY name LIMIT $3", &p, 0, &rc,
                    err);
  if (!res) return rc;
  int rows = PQntuples(res);
  *a->n = 0;
  *a->models = a->arena->alloc(a->arena->ctx, ((size_t)rows + 1) * sizeof **a->models);
  if (!*a->models) rc = oom(err);
  for (int i = 0; rc == MR_OK && i < rows; i++)
    if (row_to_model(a->arena, res, i, &(*a->models)[(*a->n)++]) != 0) rc = oom(err);
  PQclear(res);
  return rc;
}

static mr_rc op_delete_model(PGconn *c, pg_args *a, mr_err *err) {
  pg_params p = {0};
  p_text(&p, a->model);
  long changed = 0;
  mr_rc rc = exec_count(c, "DELETE FROM mr_models WHERE name = $1", &p, &changed, err);
  if (rc == MR_OK && changed == 0) rc = mr_err_no_model(err, a->model);
  return rc;
}

/* ---- versions ---------------------------------------------------------------------- */

static int row_to_version(mr_arena *ar, const PGresult *res, int row, mr_version *v) {
  v->model_name = col_text(ar, res, row, 0);
  v->version = (uint64_t)col_i64(res, row, 1);
  v->status = (int)col_i64(res, row, 2);
  v->framework = col_text(ar, res, row, 3);
  v->description = col_text(ar, res, row, 4);
  v->spec = col_bytea(ar, res, row, 5, &v->spec_len);
  v->sha256 = col_text(ar, res, row, 6);
  v->size_bytes = (uint64_t)col_i64(res, row, 7);
  v->created_ns = col_i64(res, row, 8);
  return v->model_name && v->framework && v->description && v->spec && v->sha256 ? 0 : -1;
}

static mr_rc op_get_version(PGconn *c, pg_args *a, mr_err *err) {
  pg_params p = {0};
  p_text(&p, a->model);
  p_i64(&p, (int64_t)a->version);
  mr_rc rc;
  PGresult *res = q(c, "SELECT " PG_VERSION_COLUMNS ", artifact_id FROM mr_versions WHERE model = $1 AND version = $2",
                    &p, 0, &rc, err);
  if (!res) return rc;
  if (PQntuples(res) == 0)
    rc = version_missing(c, a->model, a->version, err);
  else if (a->version_out && row_to_version(a->arena, res, 0, a->version_out) != 0)
    rc = oom(err);
  else
    a->artifact_id = col_i64(res, 0, 9);
  PQclear(res);
  return rc;
}

static mr_rc op_list_versions(PGconn *c, pg_args *a, mr_err *err) {
  mr_rc rc = need_model(c, a->model, 0, err);
  if (rc != MR_OK) return rc;
  pg_params p = {0};
  p_text(&p, a->model);
  p_i64(&p, (int64_t)a->after_version);
  p_i64(&p, (int64_t)a->limit);
  PGresult *res = q(c, "SELECT " PG_VERSION_COLUMNS " FROM mr_versions WHERE model = $1 AND version > $2 "
                       "ORDER BY version LIMIT $3", &p, 0, &rc, err);
  if (!res) return rc;
  int rows = PQntuples(res);
  *a->n = 0;
  *a->versions = a->arena->alloc(a->arena->ctx, ((size_t)rows + 1) * sizeof **a->versions);
  if (!*a->versions) rc = oom(err);
  for (int i = 0; rc == MR_OK && i < rows; i++)
    if (row_to_version(a->arena, res, i, &(*a->versions)[(*a->n)++]) != 0) rc = oom(err);
  PQclear(res);
  return rc;
}

static mr_rc op_set_status(PGconn *c, pg_args *a, mr_err *err) {
  pg_params p = {0};
  p_i64(&p, a->status);
  p_text(&p, a->model);
  p_i64(&p, (int64_t)a->version);
  long changed = 0;
  mr_rc rc = exec(c, "BEGIN", NULL, err);
  if (rc == MR_OK)
    rc = exec_count(c, "UPDATE mr_versions SET status = $1 WHERE model = $2 AND version = $3", &p, &changed, err);
  if (rc == MR_OK && changed == 0) rc = version_missing(c, a->model, a->version, err);
  if (rc == MR_OK) rc = touch(c, a->model, a->now_ns, err);
  if (rc == MR_OK) rc = exec(c, "COMMIT", NULL, err);
  return rc;
}

/* ---- aliases ---------------------------------------------------------------------- */

static mr_rc op_set_alias(PGconn *c, pg_args *a, mr_err *err) {
  const mr_alias *al = a->alias_in;
  pg_params p = {0};
  p_text(&p, al->model_name);
  p_i64(&p, (int64_t)al->version);
  mr_rc rc = exec(c, "BEGIN", NULL, err);
  PGresult *res = rc == MR_OK ? q(c, "SELECT 1 FROM mr_versions WHERE model = $1 AND version = $2", &p, 0, &rc, err)
                              : NULL;
  if (res && PQntuples(res) == 0) rc = version_missing(c, al->model_name, al->version, err);
  PQclear(res);
  if (rc == MR_OK) {
    pg_params p2 = {0};
    p_text(&p2, al->model_name);
    p_text(&p2, al->alias);
    p_i64(&p2, (int64_t)al->version);
    rc = exec(c, "INSERT INTO mr_aliases (model, alias, version) VALUES ($1, $2, $3) "
                 "ON CONFLICT (model, alias) DO UPDATE SET version = EXCLUDED.version", &p2, err);
  }
  if (rc == MR_OK) rc = touch(c, al->model_name, a->now_ns, err);
  if (rc == MR_OK) rc = exec(c, "COMMIT", NULL, err);
  return rc;
}

static mr_rc op_get_alias(PGconn *c, pg_args *a, mr_err *err) {
  pg_params p = {0};
  p_text(&p, a->model);
  p_text(&p, a->alias);
  mr_rc rc;
  PGresult *res = q(c, "SELECT version FROM mr_aliases WHERE model = $1 AND alias = $2", &p, 0, &rc, err);
  if (!res) return rc;
  if (PQntuples(res) == 0)
    rc = alias_missing(c, a->model, a->alias, err);
  else
    *a->version_ptr = (uint64_t)col_i64(res, 0, 0);
  PQclear(res);
  return rc;
}

static mr_rc op_delete_alias(PGconn *c, pg_args *a, mr_err *err) {
  pg_params p = {0};
  p_text(&p, a->model);
  p_text(&p, a->alias);
  long changed = 0;
  mr_rc rc = exec(c, "BEGIN", NULL, err);
  if (rc == MR_OK) rc = exec_count(c, "DELETE FROM mr_aliases WHERE model = $1 AND alias = $2", &p, &changed, err);
  if (rc == MR_OK && changed == 0) rc = alias_missing(c, a->model, a->alias, err);
  if (rc == MR_OK) rc = touch(c, a->model, a->now_ns, err);
  if (rc == MR_OK) rc = exec(c, "COMMIT", NULL, err);
  return rc;
}

static mr_rc op_list_aliases(PGconn *c, pg_args *a, mr_err *err) {
  pg_params p = {0};
  p_text(&p, a->model);
  mr_rc rc;
  PGresult *res = q(c, "SELECT alias, version FROM mr_aliases WHERE model = $1 ORDER BY alias", &p, 0, &rc, err);
  if (!res) return rc;
  int rows = PQntuples(res);
  *a->n = 0;
  *a->aliases = a->arena->alloc(a->arena->ctx, ((size_t)rows + 1) * sizeof **a->aliases);
  if (!*a->aliases) rc = oom(err);
  for (int i = 0; rc == MR_OK && i < rows; i++) {
    mr_alias *al = &(*a->aliases)[(*a->n)++];
    al->model_name = mr_arena_strdup(a->arena, a->model);
    al->alias = col_text(a->arena, res, i, 0);
    al->version = (uint64_t)col_i64(res, i, 1);
    if (!al->model_name || !al->alias) rc = oom(err);
  }
  PQclear(res);
  return rc;
}

/* ---- the public operations: pack arguments, run ------------------------------------- */

static mr_rc pg_create_model(void *self, const mr_model *m, mr_err *err) {
  pg_args a = {.model_in = m};
  return run(self, op_create_model, &a, err);
}

static mr_rc pg_get_model(void *self, const char *name, mr_arena *ar, mr_model *out, mr_err *err) {
  pg_args a = {.model = name, .arena = ar, .model_out = out};
  return run(self, op_get_model, &a, err);
}

static mr_rc pg_list_models(void *self, const char *prefix, const char *after, size_t limit, mr_arena *ar,
                            mr_model **out, size_t *n, mr_err *err) {
  pg_args a = {.prefix = prefix, .after = after, .limit = limit, .arena = ar, .models = out, .n = n};
  return run(self, op_list_models, &a, err);
}

static mr_rc pg_delete_model(void *self, const char *name, mr_err *err) {
  pg_args a = {.model = name};
  return run(self, op_delete_model, &a, err);
}

static mr_rc pg_get_version(void *self, const char *model, uint64_t version, mr_arena *ar, mr_version *out,
                            mr_err *err) {
  pg_args a = {.model = model, .version = version, .arena = ar, .version_out = out};
  return run(self, op_get_version, &a, err);
}

static mr_rc pg_list_versions(void *self, const char *model, uint64_t after, size_t limit, mr_arena *ar,
                              mr_version **out, size_t *n, mr_err *err) {
  pg_args a = {.model = model, .after_version = after, .limit = limit, .arena = ar, .versions = out, .n = n};
  return run(self, op_list_versions, &a, err);
}

static mr_rc pg_set_status(void *self, const char *model, uint64_t version, int status, int64_t now_ns,
                           mr_err *err) {
  pg_args a = {.model = model, .version = version, .status = status, .now_ns = now_ns};
  return run(self, op_set_status, &a, err);
}

static mr_rc pg_set_alias(void *self, const mr_alias *al, int64_t now_ns, mr_err *err) {
  pg_args a = {.alias_in = al, .now_ns = now_ns};
  return run(self, op_set_alias, &a, err);
}

static mr_rc pg_get_alias(void *self, const char *model, const char *alias, uint64_t *version, mr_err *err) {
  pg_args a = {.model = model, .alias = alias, .version_ptr = version};
  return run(self, op_get_alias, &a, err);
}

static mr_rc pg_delete_alias(void *self, const char *model, const char *alias, int64_t now_ns, mr_err *err) {
  pg_args a = {.model = model, .alias = alias, .now_ns = now_ns};
  return run(self, op_delete_alias, &a, err);
}

static mr_rc pg_list_aliases(void *self, const char *model, mr_arena *ar, mr_alias **out, size_t *n, mr_err *err) {
  pg_args a = {.model = model, .arena = ar, .aliases = out, .n = n};
  return run(self, op_list_aliases, &a, err);
}

/* ---- uploads: one connection, one transaction ---------------------------------------- */

typedef struct pg_upload {
  PGconn *conn;        /* held from begin to commit/abort, inside a transaction */
  int64_t artifact_id; /* from mr_artifact_ids */
  int seq;             /* next chunk row */
  uint8_t *buf;        /* bytes not yet written as a row */
  size_t used;
  char *model;
} pg_upload;

static void upload_free(pg_repo *r, pg_upload *up) {
  if (!up) return;
  release(r, up->conn);
  free(up->buf);
  free(up->model);
  free(up);
}

static mr_rc upload_start(PGconn *c, pg_upload *up, mr_err *err) {
  mr_rc rc = exec(c, "BEGIN", NULL, err);
  if (rc == MR_OK) rc = need_model(c, up->model, 0, err);
  if (rc != MR_OK) return rc;
  PGresult *res = q(c, "SELECT nextval('mr_artifact_ids')", NULL, 0, &rc, err);
  if (!res) return rc;
  up->artifact_id = col_i64(res, 0, 0);
  PQclear(res);
  return MR_OK;
}

static mr_rc pg_upload_begin(void *self, const char *model, void **upload, mr_err *err) {
  pg_repo *r = self;
  pg_upload *up = calloc(1, sizeof *up);
  if (up) {
    up->buf = malloc(PG_ROW_BYTES);
    up->model = strdup(model);
  }
  if (!up || !up->buf || !up->model) {
    upload_free(r, up);
    return oom(err);
  }
  for (int attempt = 0;; attempt++) {
    int fresh;
    mr_rc rc = acquire(r, &up->conn, &fresh, err);
    if (rc == MR_OK) rc = upload_start(up->conn, up, err);
    if (rc == MR_OK) {
      *upload = up;
      return MR_OK;
    }
    int retry = rc == MR_UNAVAILABLE && attempt == 0 && (!up->conn || PQstatus(up->conn) != CONNECTION_OK) && !fresh;
    release(r, up->conn);
    up->conn = NULL;
    if (!retry) {
      upload_free(r, up);
      return rc;
    }
  }
}

static mr_rc flush_row(pg_upload *up, mr_err *err) {
  if (up->used == 0) return MR_OK;
  pg_params p = {0};
  p_i64(&p, up->artifact_id);
  p_i64(&p, up->seq);
  p_bytes(&p, up->buf, up->used);
  mr_rc rc = exec(up->conn, "INSERT INTO mr_chunks (artifact_id, seq, data) VALUES ($1, $2, $3)", &p, err);
  if (rc == MR_OK) {
    up->seq++;
    up->used = 0;
  }
  return rc;
}

static mr_rc pg_upload_write(void *self, void *upload, const uint8_t *data, size_t len, mr_err *err) {
  (void)self;
  pg_upload *up = upload;
  while (len > 0) {
    size_t take = PG_ROW_BYTES - up->used;
    if (take > len) take = len;
    memcpy(up->buf + up->used, data, take);
    up->used += take;
    data += take;
    len -= take;
    if (up->used == PG_ROW_BYTES) {
      mr_rc rc = flush_row(up, err);
      if (rc != MR_OK) return rc;
    }
  }
  return MR_OK;
}

/* Picks the next version number (model row locked), or checks an explicit one is free. */
static mr_rc pick_version(PGconn *c, mr_version *v, mr_err *err) {
  pg_params p = {0};
  p_text(&p, v->model_name);
  if (v->version) p_i64(&p, (int64_t)v->version);
  mr_rc rc;
  PGresult *res = q(c, v->version ? "SELECT 1 FROM mr_versions WHERE model = $1 AND version = $2"
                                  : "SELECT coalesce(max(version), 0) + 1 FROM mr_versions WHERE model = $1",
                    &p, 0, &rc, err);
  if (!res) return rc;
  if (v->version && PQntuples(res) > 0)
    rc = mr_err_version_exists(err, v->model_name, v->version);
  else if (!v->version)
    v->version = (uint64_t)col_i64(res, 0, 0);
  PQclear(res);
  return rc;
}

static mr_rc pg_upload_commit(void *self, void *upload, mr_version *v, int64_t now_ns, mr_err *err) {
  pg_repo *r = self;
  pg_upload *up = upload;
  uint64_t asked = v->version;
  mr_rc rc = flush_row(up, err);
  if (rc == MR_OK) rc = need_model(up->conn, v->model_name, 1, err);
  if (rc == MR_OK) rc = pick_version(up->conn, v, err);
  if (rc == MR_OK) {
    pg_params p = {0};
    p_text(&p, v->model_name);
    p_i64(&p, (int64_t)v->version);
    p_i64(&p, v->status);
    p_text(&p, v->framework);
    p_text(&p, v->description);
    p_bytes(&p, v->spec, v->spec_len);
    p_text(&p, v->sha256);
    p_i64(&p, (int64_t)v->size_bytes);
    p_i64(&p, v->created_ns);
    p_i64(&p, up->artifact_id);
    rc = exec(up->conn, "INSERT INTO mr_versions (" PG_VERSION_COLUMNS ", artifact_id) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", &p, err);
    if (rc == MR_EXISTS) rc = mr_err_version_exists(err, v->model_name, v->version);
  }
  if (rc == MR_OK) rc = touch(up->conn, v->model_name, now_ns, err);
  if (rc == MR_OK) rc = exec(up->conn, "COMMIT", NULL, err);
  if (rc != MR_OK) v->version = asked;
  upload_free(r, up); /* rolls back unless committed */
  return rc;
}

static void pg_upload_abort(void *self, void *upload) {
  upload_free(self, upload);
}

/* ---- reading artifacts: one row per fetch ---------------------------------------------- */

typedef struct pg_reader {
  int64_t artifact_id;
  int next_seq;   /* row to fetch next */
  PGresult *row;  /* the current row (binary), or NULL */
  size_t pos;     /* bytes of it already handed out */
  int done;       /* no more rows */
} pg_reader;

static mr_rc op_fetch_chunk(PGconn *c, pg_args *a, mr_err *err) {
  pg_params p = {0};
  p_i64(&p, a->artifact_id);
  p_i64(&p, a->seq);
  mr_rc rc;
  a->result = q(c, "SELECT data FROM mr_chunks WHERE artifact_id = $1 AND seq = $2", &p, 1, &rc, err);
  return rc;
}

static mr_rc pg_artifact_open(void *self, const char *model, uint64_t version, void **reader, mr_err *err) {
  pg_args a = {.model = model, .version = version};
  mr_rc rc = run(self, op_get_version, &a, err);
  if (rc != MR_OK) return rc;
  pg_reader *rd = calloc(1, sizeof *rd);
  if (!rd) return oom(err);
  rd->artifact_id = a.artifact_id;
  *reader = rd;
  return MR_OK;
}

static mr_rc pg_artifact_read(void *self, void *reader, uint8_t *buf, size_t cap, size_t *got, mr_err *err) {
  pg_reader *rd = reader;
  *got = 0;
  while (*got < cap && !rd->done) {
    if (!rd->row || rd->pos == (size_t)PQgetlength(rd->row, 0, 0)) {
      PQclear(rd->row);
      rd->row = NULL;
      rd->pos = 0;
      pg_args a = {.artifact_id = rd->artifact_id, .seq = rd->next_seq};
      mr_rc rc = run(self, op_fetch_chunk, &a, err);
      if (rc != MR_OK) return rc;
      if (PQntuples(a.result) == 0) {
        PQclear(a.result);
        rd->done = 1;
        break;
      }
      rd->row = a.result;
      rd->next_seq++;
    }
    size_t left = (size_t)PQgetlength(rd->row, 0, 0) - rd->pos;
    size_t take = left < cap - *got ? left : cap - *got;
    memcpy(buf + *got, PQgetvalue(rd->row, 0, 0) + rd->pos, take);
    rd->pos += take;
    *got += take;
  }
  return MR_OK;
}

static void pg_artifact_close(void *self, void *reader) {
  (void)self;
  pg_reader *rd = reader;
  if (!rd) return;
  PQclear(rd->row);
  free(rd);
}

/* ---- open and close -------------------------------------------------------------------- */

static void pg_close(void *self) {
  pg_repo *r = self;
  if (!r) return;
  pg_pool_free(r->pool);
  free(r);
}

static const mr_backend_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .create_model = pg_create_model,
    .get_model = pg_get_model,
    .list_models = pg_list_models,
    .delete_model = pg_delete_model,
    .get_version = pg_get_version,
    .list_versions = pg_list_versions,
    .set_status = pg_set_status,
    .set_alias = pg_set_alias,
    .get_alias = pg_get_alias,
    .delete_alias = pg_delete_alias,
    .list_aliases = pg_list_aliases,
    .upload_begin = pg_upload_begin,
    .upload_write = pg_upload_write,
    .upload_commit = pg_upload_commit,
    .upload_abort = pg_upload_abort,
    .artifact_open = pg_artifact_open,
    .artifact_read = pg_artifact_read,
    .artifact_close = pg_artifact_close,
};

mr_rc mr_pg_open(const char *dsn, mr_backend *out, mr_err *err) {
  pg_repo *r = calloc(1, sizeof *r);
  if (!r || !(r->pool = pg_pool_new(dsn, PG_POOL_MAX))) {
    free(r);
    return oom(err);
  }
  /* Create the schema now if PostgreSQL is up; otherwise on the first connection that works. */
  PGconn *c;
  int fresh;
  mr_err first = {{0}};
  if (acquire(r, &c, &fresh, &first) == MR_OK)
    release(r, c);
  else
    fprintf(stderr, "model_repository_shim: %s (will retry on each call)\n", first.msg);
  out->ops = &pg_ops;
  out->self = r;
  return MR_OK;
}
