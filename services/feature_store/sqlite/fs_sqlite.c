/*
 * fs_sqlite.c - the SQLite native adapter (see fs_sqlite.h and
 * fs_sqlite_schema.h for the tables). A small pool of connections, each
 * with its statements prepared once; an operation takes a free connection
 * for its duration (handlers run on several threads). In WAL mode readers
 * run side by side; writers are serialised by SQLite itself (BEGIN
 * IMMEDIATE, waiting up to FS_SQLITE_BUSY_MS). Every write is one BEGIN IMMEDIATE .. COMMIT transaction: when
 * write() returns FS_OK the batch is committed and, with synchronous=FULL,
 * on disk.
 */
#define _POSIX_C_SOURCE 200809L

#include "fs_sqlite.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "fs_sqlite_schema.h"
#include "shim_path.h"

#define FS_SQLITE_BUSY_MS 5000 /* wait this long for another connection or process holding the database */
#define FS_SQLITE_POOL 4        /* connections per back end */

enum { ST_INSERT_VIEW, ST_INSERT_FEATURE, ST_GET_VIEW, ST_GET_FEATURES, ST_LIST, ST_DELETE_ROWS, ST_DELETE_VIEW,
       ST_VIEW_CREATED, ST_UPSERT, ST_LOOKUP, ST_SCAN, ST_BEGIN_READ, ST_END_READ, ST_COUNT };

static const char *const statement_sql[ST_COUNT] = {
    [ST_INSERT_VIEW] = FS_SQL_INSERT_VIEW, [ST_INSERT_FEATURE] = FS_SQL_INSERT_FEATURE,
    [ST_GET_VIEW] = FS_SQL_GET_VIEW,       [ST_GET_FEATURES] = FS_SQL_GET_FEATURES,
    [ST_LIST] = FS_SQL_LIST_VIEWS,         [ST_DELETE_ROWS] = FS_SQL_DELETE_ROWS,
    [ST_DELETE_VIEW] = FS_SQL_DELETE_VIEW,
    [ST_UPSERT] = FS_SQL_UPSERT,           [ST_LOOKUP] = FS_SQL_LOOKUP,
    [ST_SCAN] = FS_SQL_SCAN,               [ST_VIEW_CREATED] = FS_SQL_VIEW_CREATED,
    [ST_BEGIN_READ] = "BEGIN",             [ST_END_READ] = "COMMIT",
};

/* One connection of the pool. */
typedef struct fs_sqlite {
  sqlite3 *db;                /* the connection */
  sqlite3_stmt *st[ST_COUNT]; /* prepared once */
  const char *path;           /* the pool's, for messages */
  struct fs_sqlite *next_free;
} fs_sqlite;

typedef struct fs_sqlite_pool {
  fs_sqlite conn[FS_SQLITE_POOL];
  fs_sqlite *free_list;  /* connections not in use */
  pthread_mutex_t lock;  /* guards free_list */
  pthread_cond_t freed;  /* a connection went back to free_list */
  char *path;
} fs_sqlite_pool;

/* A connection for one operation; waits while all are in use. */
static fs_sqlite *acquire(fs_sqlite_pool *p) {
  pthread_mutex_lock(&p->lock);
  while (!p->free_list) pthread_cond_wait(&p->freed, &p->lock);
  fs_sqlite *s = p->free_list;
  p->free_list = s->next_free;
  pthread_mutex_unlock(&p->lock);
  return s;
}

static void release(fs_sqlite_pool *p, fs_sqlite *s) {
  pthread_mutex_lock(&p->lock);
  s->next_free = p->free_list;
  p->free_list = s;
  pthread_cond_signal(&p->freed);
  pthread_mutex_unlock(&p->lock);
}

/* ---- errors ------------------------------------------------------------------ */

static fs_rc rc_of(int code) {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN: return FS_UNAVAILABLE;
    case SQLITE_FULL:
    case SQLITE_NOMEM: return FS_FULL;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return FS_CORRUPT;
    default: return FS_ERROR;
  }
}

static fs_rc sq_fail(fs_sqlite *s, int code, const char *what, fs_err *err) {
  return fs_fail(err, rc_of(code), "%s in %s: %s", what, s->path, sqlite3_errmsg(s->db));
}

/* The statement, reset and unbound, ready for new bindings. */
static sqlite3_stmt *stmt(fs_sqlite *s, int which) {
  sqlite3_stmt *st = s->st[which];
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *text) { sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC); }

static char *col_text(sqlite3_stmt *st, int i, fs_mem *mem) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? fs_mem_strndup(mem, (const char *)t, (size_t)sqlite3_column_bytes(st, i)) : fs_mem_strdup(mem, "");
}

static int exec(fs_sqlite *s, const char *sql) { return sqlite3_exec(s->db, sql, NULL, NULL, NULL); }

/* A read snapshot's BEGIN and its end, as prepared statements: a lookup
 * does not parse them again (sqlite3_exec did, 7% of a lookup's CPU). */
static void begin_read(fs_sqlite *s) {
  sqlite3_step(s->st[ST_BEGIN_READ]);
  sqlite3_reset(s->st[ST_BEGIN_READ]);
}

static void end_read(fs_sqlite *s) {
  sqlite3_step(s->st[ST_END_READ]);
  sqlite3_reset(s->st[ST_END_READ]);
}

/* Steps a statement that returns no row: FS_OK when it is done, else the failure of what. */
static fs_rc step_done(fs_sqlite *s, sqlite3_stmt *st, const char *what, fs_err *err) {
  int c = sqlite3_step(st);
  return c == SQLITE_DONE ? FS_OK : sq_fail(s, c, what, err);
}

/* The body of a write, run inside its transaction on connection s. */
typedef fs_rc (*write_body)(fs_sqlite *s, const void *arg, fs_err *err);

/* Runs body on a pooled connection in one BEGIN IMMEDIATE .. COMMIT
 * transaction, rolled back unless the body and the commit succeed. */
static fs_rc write_tx(fs_sqlite_pool *pool, write_body body, const void *arg, fs_err *err) {
  fs_sqlite *s = acquire(pool);
  int c = exec(s, "BEGIN IMMEDIATE");
  bool began = c == SQLITE_OK;
  fs_rc rc = began ? body(s, arg, err) : sq_fail(s, c, "begin", err);
  if (began && rc == FS_OK && (c = exec(s, "COMMIT")) != SQLITE_OK) rc = sq_fail(s, c, "commit", err);
  if (began && rc != FS_OK) exec(s, "ROLLBACK");
  release(pool, s);
  return rc;
}

/* ---- views ------------------------------------------------------------------- */

static fs_rc insert_view(fs_sqlite *s, const void *arg, fs_err *err) {
  const fs_view *v = arg;
  sqlite3_stmt *st = stmt(s, ST_INSERT_VIEW);
  bind_text(st, 1, v->name);
  bind_text(st, 2, v->entity_key);
  bind_text(st, 3, v->description);
  sqlite3_bind_int64(st, 4, v->created.sec);
  sqlite3_bind_int(st, 5, v->created.nanos);
  int c = sqlite3_step(st);
  if (c == SQLITE_CONSTRAINT) return fs_fail(err, FS_EXISTS, "view %s exists", v->name);
  if (c != SQLITE_DONE) return sq_fail(s, c, "insert view", err);
  fs_rc rc = FS_OK;
  for (size_t i = 0; i < v->n_features && rc == FS_OK; i++) {
    st = stmt(s, ST_INSERT_FEATURE);
    bind_text(st, 1, v->name);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
    bind_text(st, 3, v->features[i].name);
    sqlite3_bind_int(st, 4, (int)v->features[i].type);
    bind_text(st, 5, v->features[i].description);
    rc = step_done(s, st, "insert feature", err);
  }
  return rc;
}

static fs_rc create_view(void *be, const fs_view *v, fs_err *err) {
  return write_tx(be, insert_view, v, err);
}

/* get_view on connection s. */
static fs_rc load_view(fs_sqlite *s, const char *name, fs_mem *mem, fs_view *out, fs_err *err) {
  sqlite3_stmt *st = stmt(s, ST_GET_VIEW);
  bind_text(st, 1, name);
  int c = sqlite3_step(st);
  if (c == SQLITE_DONE) return fs_fail(err, FS_NOT_FOUND, "no view %s", name);
  if (c != SQLITE_ROW) return sq_fail(s, c, "read view", err);
  *out = (fs_view){.name = fs_mem_strdup(mem, name),
                   .entity_key = col_text(st, 0, mem),
                   .description = col_text(st, 1, mem),
                   .created = {sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3)}};
  st = stmt(s, ST_GET_FEATURES);
  bind_text(st, 1, name);
  size_t cap = 16, n = 0;
  fs_feature *f = fs_mem_alloc(mem, cap * sizeof *f);
  if (!f || !out->name || !out->entity_key || !out->description) return fs_fail(err, FS_FULL, "out of memory");
  while ((c = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == cap) { /* grow inside the arena: the old array is simply left behind */
      fs_feature *g = fs_mem_alloc(mem, 2 * cap * sizeof *g);
      if (!g) return fs_fail(err, FS_FULL, "out of memory");
      memcpy(g, f, n * sizeof *f);
      f = g;
      cap *= 2;
    }
    f[n] = (fs_feature){.name = col_text(st, 0, mem),
                        .type = (fs_type)sqlite3_column_int(st, 1),
                        .description = col_text(st, 2, mem)};
    if (!f[n].name || !f[n].description) return fs_fail(err, FS_FULL, "out of memory");
    n++;
  }
  if (c != SQLITE_DONE) return sq_fail(s, c, "read features", err);
  out->features = f;
  out->n_features = n;
  return FS_OK;
}

static fs_rc get_view(void *be, const char *name, fs_mem *mem, fs_view *out, fs_err *err) {
  fs_sqlite_pool *pool = be;
  fs_sqlite *s;
  s = acquire(pool);
  begin_read(s); /* one snapshot for the view and its features */
  fs_rc rc = load_view(s, name, mem, out, err);
  sqlite3_reset(s->st[ST_GET_VIEW]);
  sqlite3_reset(s->st[ST_GET_FEATURES]);
  end_read(s);
  release(pool, s);
  return rc;
}

static fs_rc list_views(void *be, const char *after, size_t limit, fs_mem *mem, fs_view **out, size_t *n_out,
                        fs_err *err) {
  fs_sqlite_pool *pool = be;
  fs_sqlite *s;
  fs_rc rc = FS_OK;
  size_t n = 0;
  fs_view *views = fs_mem_alloc(mem, (limit ? limit : 1) * sizeof *views);
  char **names = fs_mem_alloc(mem, (limit ? limit : 1) * sizeof *names);
  if (!views || !names) return fs_fail(err, FS_FULL, "out of memory");
  s = acquire(pool);
  begin_read(s); /* one snapshot for the names and their definitions */
  sqlite3_stmt *st = stmt(s, ST_LIST);
  bind_text(st, 1, after);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
  int c;
  while (n < limit && (c = sqlite3_step(st)) == SQLITE_ROW) {
    if (!(names[n++] = col_text(st, 0, mem))) {
      rc = fs_fail(err, FS_FULL, "out of memory");
      goto out;
    }
  }
  if (n < limit && c != SQLITE_DONE) {
    rc = sq_fail(s, c, "list views", err);
    goto out;
  }
  for (size_t i = 0; i < n && rc == FS_OK; i++) rc = load_view(s, names[i], mem, &views[i], err);
out:
  sqlite3_reset(s->st[ST_LIST]);
  sqlite3_reset(s->st[ST_GET_VIEW]);
  sqlite3_reset(s->st[ST_GET_FEATURES]);
  end_read(s);
  release(pool, s);
  *out = views;
  *n_out = rc == FS_OK ? n : 0;
  return rc;
}

static fs_rc delete_view_rows(fs_sqlite *s, const void *arg, fs_err *err) {
  const char *name = arg;
  sqlite3_stmt *st = stmt(s, ST_DELETE_ROWS);
  bind_text(st, 1, name);
  fs_rc rc = step_done(s, st, "delete rows", err);
  if (rc != FS_OK) return rc;
  st = stmt(s, ST_DELETE_VIEW);
  bind_text(st, 1, name);
  rc = step_done(s, st, "delete view", err);
  if (rc == FS_OK && sqlite3_changes(s->db) == 0) rc = fs_fail(err, FS_NOT_FOUND, "no view %s", name);
  return rc;
}

static fs_rc delete_view(void *be, const char *name, fs_err *err) {
  return write_tx(be, delete_view_rows, name, err);
}

/* ---- values ------------------------------------------------------------------- */

static void bind_value(sqlite3_stmt *st, int i, const fs_value *v) {
  switch (v->type) {
    case FS_TYPE_INT64: sqlite3_bind_int64(st, i, v->u.i); break;
    case FS_TYPE_DOUBLE: sqlite3_bind_double(st, i, v->u.d); break; /* NaN is stored as NULL */
    case FS_TYPE_STRING: bind_text(st, i, v->u.s); break;
    case FS_TYPE_BOOL: sqlite3_bind_int(st, i, v->u.b ? 1 : 0); break;
    default: sqlite3_bind_null(st, i);
  }
}

/* A stored value as feature type t; -1 out of memory. */
static int col_value(sqlite3_stmt *st, int i, fs_type t, fs_mem *mem, fs_value *out) {
  out->type = t;
  switch (t) {
    case FS_TYPE_INT64: out->u.i = sqlite3_column_int64(st, i); return 0;
    case FS_TYPE_DOUBLE:
      out->u.d = sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
      return 0;
    case FS_TYPE_STRING: return (out->u.s = col_text(st, i, mem)) ? 0 : -1;
    case FS_TYPE_BOOL: out->u.b = sqlite3_column_int(st, i) != 0; return 0;
    default: return -1;
  }
}

/* What write_rows writes: rows of view. */
typedef struct rows_arg {
  const fs_view *view;
  const fs_entity *rows;
  size_t n_rows;
} rows_arg;

static fs_rc upsert_rows(fs_sqlite *s, const void *arg, fs_err *err) {
  const rows_arg *a = arg;
  const fs_view *view = a->view;
  sqlite3_stmt *st = stmt(s, ST_VIEW_CREATED); /* the same view as view, not only the same name */
  bind_text(st, 1, view->name);
  int c = sqlite3_step(st);
  bool same = c == SQLITE_ROW && sqlite3_column_int64(st, 0) == view->created.sec &&
              sqlite3_column_int(st, 1) == view->created.nanos;
  sqlite3_reset(st);
  if (c != SQLITE_ROW)
    return c == SQLITE_DONE ? fs_fail(err, FS_NOT_FOUND, "no view %s", view->name) : sq_fail(s, c, "find view", err);
  if (!same) return fs_fail(err, FS_CHANGED, "view %s was re-created", view->name);
  fs_rc rc = FS_OK;
  for (size_t r = 0; r < a->n_rows && rc == FS_OK; r++) {
    for (size_t k = 0; k < a->rows[r].n_cells && rc == FS_OK; k++) {
      const fs_cell *cell = &a->rows[r].cells[k];
      st = stmt(s, ST_UPSERT);
      bind_text(st, 1, view->name);
      bind_text(st, 2, a->rows[r].key);
      bind_text(st, 3, view->features[cell->feature].name);
      bind_value(st, 4, &cell->value);
      sqlite3_bind_int64(st, 5, cell->time.sec);
      sqlite3_bind_int(st, 6, cell->time.nanos);
      rc = step_done(s, st, "write", err);
    }
  }
  return rc;
}

static fs_rc write_rows(void *be, const fs_view *view, const fs_entity *rows, size_t n_rows, fs_err *err) {
  rows_arg a = {view, rows, n_rows};
  return write_tx(be, upsert_rows, &a, err);
}

/* A growable array of cells in malloc'd memory, copied into the arena per entity. */
typedef struct cellbuf {
  fs_cell *v;
  size_t n, cap;
} cellbuf;

static int cellbuf_push(cellbuf *b, const fs_cell *c) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 64;
    fs_cell *v = realloc(b->v, cap * sizeof *v);
    if (!v) return -1;
    b->v = v;
    b->cap = cap;
  }
  b->v[b->n++] = *c;
  return 0;
}

/* The index of feature name in view; *next (the index after the last one
 * found) is tried first, as an entity's rows usually come in the view's order. */
static long feature_index(const fs_view *view, const char *name, size_t *next) {
  long fi = *next < view->n_features && strcmp(view->features[*next].name, name) == 0 ? (long)*next
                                                                                       : fs_view_feature(view, name);
  if (fi >= 0) *next = (size_t)fi + 1;
  return fi;
}

/* Reads the (feature, value, sec, nanos) columns starting at col into a cell; 1 = stored feature unknown (skip).
 * *next: see feature_index (0 for an entity's first row). */
static int read_cell(sqlite3_stmt *st, int col, const fs_view *view, fs_mem *mem, size_t *next, fs_cell *out) {
  long fi = feature_index(view, (const char *)sqlite3_column_text(st, col), next);
  if (fi < 0) return 1;
  out->feature = (size_t)fi;
  out->time = (fs_time){sqlite3_column_int64(st, col + 2), sqlite3_column_int(st, col + 3)};
  return col_value(st, col + 1, view->features[fi].type, mem, &out->value);
}

static fs_cell *cells_copy(const cellbuf *b, fs_mem *mem) {
  fs_cell *c = fs_mem_alloc(mem, (b->n ? b->n : 1) * sizeof *c);
  if (c && b->n) memcpy(c, b->v, b->n * sizeof *c);
  return c;
}

static fs_rc lookup(void *be, const fs_view *view, const char *const *keys, size_t n_keys, fs_mem *mem,
                    fs_entity *out, fs_err *err) {
  fs_sqlite_pool *pool = be;
  fs_sqlite *s;
  fs_rc rc = FS_OK;
  cellbuf buf = {0};
  s = acquire(pool);
  begin_read(s); /* one snapshot for the definition check and all keys */
  sqlite3_stmt *vs = stmt(s, ST_VIEW_CREATED);
  bind_text(vs, 1, view->name);
  int vc = sqlite3_step(vs);
  if (vc == SQLITE_DONE || (vc == SQLITE_ROW && (sqlite3_column_int64(vs, 0) != view->created.sec ||
                                                  sqlite3_column_int(vs, 1) != view->created.nanos)))
    rc = fs_fail(err, FS_NOT_FOUND, "no view %s of that definition", view->name);
  else if (vc != SQLITE_ROW)
    rc = sq_fail(s, vc, "find view", err);
  sqlite3_reset(vs);
  for (size_t i = 0; i < n_keys && rc == FS_OK; i++) {
    sqlite3_stmt *st = stmt(s, ST_LOOKUP);
    bind_text(st, 1, view->name);
    bind_text(st, 2, keys[i]);
    buf.n = 0;
    size_t next = 0;
    int c;
    while ((c = sqlite3_step(st)) == SQLITE_ROW) {
      fs_cell cell;
      int r = read_cell(st, 0, view, mem, &next, &cell);
      if (r < 0 || (r == 0 && cellbuf_push(&buf, &cell) != 0)) {
        rc = fs_fail(err, FS_FULL, "out of memory");
        break;
      }
    }
    if (rc == FS_OK && c != SQLITE_DONE) rc = sq_fail(s, c, "lookup", err);
    out[i] = (fs_entity){.key = keys[i], .n_cells = buf.n, .cells = cells_copy(&buf, mem)};
    if (rc == FS_OK && !out[i].cells) rc = fs_fail(err, FS_FULL, "out of memory");
    sqlite3_reset(st);
  }
  end_read(s);
  release(pool, s);
  free(buf.v);
  return rc;
}

static fs_rc scan(void *be, const fs_view *view, const char *after, size_t limit, fs_mem *mem, fs_entity **out,
                  size_t *n_out, fs_err *err) {
  fs_sqlite_pool *pool = be;
  fs_sqlite *s;
  fs_rc rc = FS_OK;
  cellbuf buf = {0};
  size_t n = 0;
  fs_entity *ents = fs_mem_alloc(mem, (limit ? limit : 1) * sizeof *ents);
  if (!ents) return fs_fail(err, FS_FULL, "out of memory");
  s = acquire(pool);
  sqlite3_stmt *st = stmt(s, ST_SCAN);
  bind_text(st, 1, view->name);
  bind_text(st, 2, after);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
  int c;
  const char *cur = NULL;
  size_t next = 0;
  while (rc == FS_OK && (c = sqlite3_step(st)) == SQLITE_ROW) {
    const char *key = (const char *)sqlite3_column_text(st, 0);
    if (!cur || strcmp(cur, key) != 0) {
      if (cur && !(ents[n - 1].cells = cells_copy(&buf, mem))) break;
      if (cur) ents[n - 1].n_cells = buf.n;
      if (n == limit || !(cur = fs_mem_strdup(mem, key))) break;
      ents[n++] = (fs_entity){.key = cur};
      buf.n = 0;
      next = 0;
    }
    fs_cell cell;
    int r = read_cell(st, 1, view, mem, &next, &cell);
    if (r < 0 || (r == 0 && cellbuf_push(&buf, &cell) != 0)) rc = fs_fail(err, FS_FULL, "out of memory");
  }
  if (rc == FS_OK && c != SQLITE_DONE) rc = c == SQLITE_ROW ? fs_fail(err, FS_FULL, "out of memory") : sq_fail(s, c, "scan", err);
  if (rc == FS_OK && n) {
    ents[n - 1].n_cells = buf.n;
    if (!(ents[n - 1].cells = cells_copy(&buf, mem))) rc = fs_fail(err, FS_FULL, "out of memory");
  }
  sqlite3_reset(st);
  release(pool, s);
  free(buf.v);
  *out = ents;
  *n_out = rc == FS_OK ? n : 0;
  return rc;
}

/* ---- lifetime ------------------------------------------------------------------ */

static void close_conn(fs_sqlite *s) {
  for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
  sqlite3_close(s->db);
}

static void close_db(void *be) {
  fs_sqlite_pool *p = be;
  if (!p) return;
  for (int i = 0; i < FS_SQLITE_POOL; i++) close_conn(&p->conn[i]);
  pthread_cond_destroy(&p->freed);
  pthread_mutex_destroy(&p->lock);
  free(p->path);
  free(p);
}

static const fs_backend_ops sqlite_ops = {
    .name = "sqlite",
    .create_view = create_view,
    .get_view = get_view,
    .list_views = list_views,
    .delete_view = delete_view,
    .write = write_rows,
    .lookup = lookup,
    .scan = scan,
    .close = close_db,
};

/* Opens one connection of the pool: tables (made when missing), pragmas, statements. */
static int open_conn(fs_sqlite *s, const char *path, fs_err *err) {
  s->path = path;
  int c = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (c != SQLITE_OK) {
    fs_fail(err, rc_of(c), "cannot open SQLite database %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
    return -1;
  }
  sqlite3_busy_timeout(s->db, FS_SQLITE_BUSY_MS);
  char *msg = NULL;
  if ((c = sqlite3_exec(s->db, FS_SQL_SCHEMA, NULL, NULL, &msg)) != SQLITE_OK) {
    fs_fail(err, rc_of(c), "cannot set up the tables in %s: %s", path, msg ? msg : sqlite3_errstr(c));
    sqlite3_free(msg);
    return -1;
  }
  for (int i = 0; i < ST_COUNT; i++) {
    if ((c = sqlite3_prepare_v3(s->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL)) != SQLITE_OK) {
      fs_fail(err, rc_of(c), "%s does not hold the expected tables: %s", path, sqlite3_errmsg(s->db));
      return -1;
    }
  }
  return 0;
}

int fs_sqlite_open(const char *path, fs_backend *out, fs_err *err) {
  if (strcmp(path, ":memory:") != 0 && shim_mkdir_parent(path) != 0) { /* data/features.db: data/ too */
    fs_fail(err, FS_UNAVAILABLE, "cannot create the folder of SQLite database %s: %s", path, strerror(errno));
    return -1;
  }
  fs_sqlite_pool *p = calloc(1, sizeof *p);
  if (!p || !(p->path = strdup(path))) {
    free(p);
    fs_fail(err, FS_FULL, "out of memory");
    return -1;
  }
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->freed, NULL);
  for (int i = 0; i < FS_SQLITE_POOL; i++) {
    if (open_conn(&p->conn[i], p->path, err) != 0) goto fail;
    p->conn[i].next_free = p->free_list;
    p->free_list = &p->conn[i];
  }
  *out = (fs_backend){.ops = &sqlite_ops, .be = p};
  return 0;
fail:
  close_db(p);
  return -1;
}
