/*
 * fs_backend.c - model repository back end on the local filesystem + SQLite.
 *
 * Metadata lives in one SQLite database (WAL, synchronous=FULL), artifacts
 * in files. An upload is written to DIR/tmp/, fsync'd, and renamed into
 * DIR/artifacts/<model>/<n>.bin inside the SQLite transaction that inserts
 * the version row: if the insert fails the file is removed again, so a
 * version row exists exactly when its complete file does. One mutex
 * serializes metadata access (SQLite has one writer anyway); the bytes of an
 * upload are written outside it.
 */
#define _POSIX_C_SOURCE 200809L
#include "fs_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_schema.h"
#include "shim_path.h"

typedef struct fs_repo {
  pthread_mutex_t mu; /* guards db and the artifacts tree */
  sqlite3 *db;
  char *dir; /* the data directory */
} fs_repo;

typedef struct fs_upload {
  int fd;           /* the temp file, open for writing */
  char *tmp_path;   /* DIR/tmp/upload-XXXXXX */
  char *model;      /* the model it belongs to */
} fs_upload;

typedef struct fs_reader {
  int fd;
} fs_reader;

/* ---- small helpers -------------------------------------------------------------- */

static mr_rc db_fail(fs_repo *r, mr_err *err, const char *what) {
  return mr_err_set(err, MR_FAILED, "SQLite metadata store: %s: %s", what, sqlite3_errmsg(r->db));
}

static mr_rc io_fail(mr_err *err, const char *what, const char *path) {
  return mr_err_set(err, MR_FAILED, "artifact store: %s %s: %s", what, path, strerror(errno));
}

static mr_rc exec(fs_repo *r, const char *sql, mr_err *err) {
  char *msg = NULL;
  if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) == SQLITE_OK) return MR_OK;
  mr_rc rc = mr_err_set(err, MR_FAILED, "SQLite metadata store: %s: %s", sql, msg ? msg : "error");
  sqlite3_free(msg);
  return rc;
}

static void rollback(fs_repo *r) {
  sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
}

static mr_rc prepare(fs_repo *r, const char *sql, sqlite3_stmt **st, mr_err *err) {
  if (sqlite3_prepare_v2(r->db, sql, -1, st, NULL) == SQLITE_OK) return MR_OK;
  *st = NULL;
  return db_fail(r, err, "prepare");
}

static char *col_text(mr_arena *a, sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return mr_arena_strdup(a, t ? (const char *)t : "");
}

static uint8_t *col_blob(mr_arena *a, sqlite3_stmt *st, int i, size_t *len) {
  const void *b = sqlite3_column_blob(st, i);
  *len = (size_t)sqlite3_column_bytes(st, i);
  return mr_arena_memdup(a, b, *len);
}

/* path = dir/artifacts/<model>[/<version>.bin]; malloc'd. */
static char *artifact_path(const fs_repo *r, const char *model, uint64_t version) {
  size_t cap = strlen(r->dir) + strlen(model) + 64;
  char *p = malloc(cap);
  if (!p) return NULL;
  if (version)
    snprintf(p, cap, "%s/artifacts/%s/%" PRIu64 ".bin", r->dir, model, version);
  else
    snprintf(p, cap, "%s/artifacts/%s", r->dir, model);
  return p;
}

/* 1 when the model exists, 0 when not, -1 on error. Call with mu held. */
static int model_exists(fs_repo *r, const char *model, mr_err *err) {
  sqlite3_stmt *st;
  if (prepare(r, "SELECT 1 FROM models WHERE name = ?1", &st, err) != MR_OK) return -1;
  sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_ROW) return 1;
  if (rc == SQLITE_DONE) return 0;
  db_fail(r, err, "looking up a model");
  return -1;
}

/* The right NOT_FOUND for a missing version (or model), or the lookup's error. */
static mr_rc version_missing(fs_repo *r, const char *model, uint64_t version, mr_err *err) {
  int e = model_exists(r, model, err);
  if (e < 0) return MR_FAILED;
  return e ? mr_err_no_version(err, model, version) : mr_err_no_model(err, model);
}

static mr_rc touch_model(fs_repo *r, const char *model, int64_t now_ns, mr_err *err) {
  if (!now_ns) return MR_OK;
  sqlite3_stmt *st;
  if (prepare(r, "UPDATE models SET updated_ns = ?1 WHERE name = ?2", &st, err) != MR_OK) return MR_FAILED;
  sqlite3_bind_int64(st, 1, now_ns);
  sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  return rc == SQLITE_DONE ? MR_OK : db_fail(r, err, "updating a model");
}

/* Takes mu and opens a write transaction; end it with end_write whatever this returns. */
static mr_rc begin_write(fs_repo *r, mr_err *err) {
  pthread_mutex_lock(&r->mu);
  return exec(r, "BEGIN IMMEDIATE", err);
}

/* Ends begin_write's transaction: with rc MR_OK stamps the model's updated_ns
 * (now_ns, 0: not) and commits; otherwise, or when that fails, rolls back.
 * Releases mu. */
static mr_rc end_write(fs_repo *r, mr_rc rc, const char *model, int64_t now_ns, mr_err *err) {
  if (rc == MR_OK) rc = touch_model(r, model, now_ns, err);
  if (rc == MR_OK) rc = exec(r, "COMMIT", err);
  if (rc != MR_OK) rollback(r);
  pthread_mutex_unlock(&r->mu);
  return rc;
}

/* ---- models ------------------------------------------------------------------------ */

static mr_rc fs_create_model(void *self, const mr_model *m, mr_err *err) {
  fs_repo *r = self;
  sqlite3_stmt *st;
  pthread_mutex_lock(&r->mu);
  mr_rc rc = prepare(r,
                     "INSERT INTO models (name, description, tags, created_ns, updated_ns) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
                     &st, err);
  if (rc == MR_OK) {
    sqlite3_bind_text(st, 1, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m->description ? m->description : "", -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, m->tags_len ? (const void *)m->tags : "", (int)m->tags_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, m->created_ns);
    sqlite3_bind_int64(st, 5, m->updated_ns);
    int s = sqlite3_step(st);
    if (s == SQLITE_CONSTRAINT)
      rc = mr_err_model_exists(err, m->name);
    else if (s != SQLITE_DONE)
      rc = db_fail(r, err, "inserting a model");
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

#define MODEL_SELECT                                                                      \
  "SELECT name, description, tags, created_ns, updated_ns, "                              \
  "  (SELECT coalesce(max(version), 0) FROM versions v WHERE v.model = m.name) FROM models m "

static int row_to_model(mr_arena *a, sqlite3_stmt *st, mr_model *m) {
  m->name = col_text(a, st, 0);
  m->description = col_text(a, st, 1);
  m->tags = col_blob(a, st, 2, &m->tags_len);
  m->created_ns = sqlite3_column_int64(st, 3);
  m->updated_ns = sqlite3_column_int64(st, 4);
  m->latest_version = (uint64_t)sqlite3_column_int64(st, 5);
  return m->name && m->description && m->tags ? 0 : -1;
}

static mr_rc fs_get_model(void *self, const char *name, mr_arena *a, mr_model *out, mr_err *err) {
  fs_repo *r = self;
  sqlite3_stmt *st;
  pthread_mutex_lock(&r->mu);
  mr_rc rc = prepare(r, MODEL_SELECT "WHERE name = ?1", &st, err);
  if (rc == MR_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
      rc = row_to_model(a, st, out) == 0 ? MR_OK : mr_err_set(err, MR_FAILED, "out of memory");
    else if (s == SQLITE_DONE)
      rc = mr_err_no_model(err, name);
    else
      rc = db_fail(r, err, "reading a model");
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

static mr_rc fs_list_models(void *self, const char *prefix, const char *after, size_t limit, mr_arena *a,
                            mr_model **out, size_t *n, mr_err *err) {
  fs_repo *r = self;
  sqlite3_stmt *st;
  *n = 0;
  *out = a->alloc(a->ctx, (limit + 1) * sizeof **out);
  if (!*out) return mr_err_set(err, MR_FAILED, "out of memory");
  pthread_mutex_lock(&r->mu);
  mr_rc rc = prepare(r, MODEL_SELECT "WHERE name > ?1 AND substr(name, 1, length(?2)) = ?2 ORDER BY name LIMIT ?3",
                     &st, err);
  if (rc == MR_OK) {
    sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
    int s;
    while (rc == MR_OK && (s = sqlite3_step(st)) == SQLITE_ROW)
      rc = row_to_model(a, st, &(*out)[(*n)++]) == 0 ? MR_OK : mr_err_set(err, MR_FAILED, "out of memory");
    if (rc == MR_OK && s != SQLITE_DONE) rc = db_fail(r, err, "listing models");
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

/* Removes DIR/artifacts/<model> and the files in it (best effort: the rows are gone already). */
static void remove_artifacts(fs_repo *r, const char *model) {
  char *dir = artifact_path(r, model, 0);
  if (!dir) return;
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.') continue;
      char path[4096];
      if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path) unlink(path);
    }
    closedir(d);
  }
  rmdir(dir);
  free(dir);
}

static mr_rc fs_delete_model(void *self, const char *name, mr_err *err) {
  fs_repo *r = self;
  sqlite3_stmt *st;
  pthread_mutex_lock(&r->mu);
  mr_rc rc = prepare(r, "DELETE FROM models WHERE name = ?1", &st, err);
  if (rc == MR_OK) {
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
      rc = db_fail(r, err, "deleting a model");
    else if (sqlite3_changes(r->db) == 0)
      rc = mr_err_no_model(err, name);
    sqlite3_finalize(st);
  }
  if (rc == MR_OK) remove_artifacts(r, name);
  pthread_mutex_unlock(&r->mu);
  return rc;
}

/* ---- versions ---------------------------------------------------------------------- */

static int row_to_version(mr_arena *a, sqlite3_stmt *st, mr_version *v) {
  v->model_name = col_text(a, st, 0);
  v->version = (uint64_t)sqlite3_column_int64(st, 1);
  v->status = sqlite3_column_int(st, 2);
  v->framework = col_text(a, st, 3);
  v->description = col_text(a, st, 4);
  v->spec = col_blob(a, st, 5, &v->spec_len);
  v->sha256 = col_text(a, st, 6);
  v->size_bytes = (uint64_t)sqlite3_column_int64(st, 7);
  v->created_ns = sqlite3_column_int64(st, 8);
  return v->model_name && v->framework && v->description && v->spec && v->sha256 ? 0 : -1;
}

static mr_rc fs_get_version(void *self, const char *model, uint64_t version, mr_arena *a, mr_version *out,
                            mr_err *err) {
  fs_repo *r = self;
  sqlite3_stmt *st;
  pthread_mutex_lock(&r->mu);
  mr_rc rc = prepare(r, "SELECT " FS_VERSION_COLUMNS " FROM versions WHERE model = ?1 AND version = ?2", &st, err);
  if (rc == MR_OK) {
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)version);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
      rc = row_to_version(a, st, out) == 0 ? MR_OK : mr_err_set(err, MR_FAILED, "out of memory");
    else if (s == SQLITE_DONE)
      rc = version_missing(r, model, version, err);
    else
      rc = db_fail(r, err, "reading a version");
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

static mr_rc fs_list_versions(void *self, const char *model, uint64_t after, size_t limit, mr_arena *a,
                              mr_version **out, size_t *n, mr_err *err) {
  fs_repo *r = self;
  sqlite3_stmt *st;
  *n = 0;
  *out = a->alloc(a->ctx, (limit + 1) * sizeof **out);
  if (!*out) return mr_err_set(err, MR_FAILED, "out of memory");
  pthread_mutex_lock(&r->mu);
  int e = model_exists(r, model, err);
  mr_rc rc = e < 0 ? MR_FAILED : e == 0 ? mr_err_no_model(err, model) : MR_OK;
  if (rc == MR_OK)
    rc = prepare(r, "SELECT " FS_VERSION_COLUMNS " FROM versions WHERE model = ?1 AND version > ?2 "
                    "ORDER BY version LIMIT ?3", &st, err);
  if (rc == MR_OK) {
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)after);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
    int s;
    while (rc == MR_OK && (s = sqlite3_step(st)) == SQLITE_ROW)
      rc = row_to_version(a, st, &(*out)[(*n)++]) == 0 ? MR_OK : mr_err_set(err, MR_FAILED, "out of memory");
    if (rc == MR_OK && s != SQLITE_DONE) rc = db_fail(r, err, "listing versions");
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

static mr_rc fs_set_status(void *self, const char *model, uint64_t version, int status, int64_t now_ns,
                           mr_err *err) {
  fs_repo *r = self;
  sqlite3_stmt *st;
  mr_rc rc = begin_write(r, err);
  if (rc == MR_OK) rc = prepare(r, "UPDATE versions SET status = ?1 WHERE model = ?2 AND version = ?3", &st, err);
  if (rc == MR_OK) {
    sqlite3_bind_int(st, 1, status);
    sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)version);
    if (sqlite3_step(st) != SQLITE_DONE)
      rc = db_fail(r, err, "updating a version");
    else if (sqlite3_changes(r->db) == 0)
      rc = version_missing(r, model, version, err);
    sqlite3_finalize(st);
  }
  return end_write(r, rc, model, now_ns, err);
}

/* ---- aliases ------------------------------------------------------------------------ */

static mr_rc fs_set_alias(void *self, const mr_alias *al, int64_t now_ns, mr_err *err) {
  fs_repo *r = self;
  sqlite3_stmt *st;
  mr_rc rc = begin_write(r, err);
  if (rc == MR_OK) rc = prepare(r, "SELECT 1 FROM versions WHERE model = ?1 AND version = ?2", &st, err);
  if (rc == MR_OK) {
    sqlite3_bind_text(st, 1, al->model_name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)al->version);
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s == SQLITE_DONE)
      rc = version_missing(r, al->model_name, al->version, err);
    else if (s != SQLITE_ROW)
      rc = db_fail(r, err, "looking up a version");
  }
  if (rc == MR_OK)
    rc = prepare(r, "INSERT INTO aliases (model, alias, version) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version", &st, err);
  if (rc == MR_OK) {
    sqlite3_bind_text(st, 1, al->model_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, al->alias, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)al->version);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(r, err, "setting an alias");
    sqlite3_finalize(st);
  }
  return end_write(r, rc, al->model_name, now_ns, err);
}

/* NOT_FOUND for a missing alias: names the model when that is what is missing. */
static mr_rc alias_missing(fs_repo *r, const char *model, const char *alias, mr_err *err) {
  int e = model_exists(r, model, err);
  if (e < 0) return MR_FAILED;
  return e ? mr_err_no_alias(err, model, alias) : mr_err_no_model(err, model);
}

static mr_rc fs_get_alias(void *self, const char *model, const char *alias, uint64_t *version, mr_err *err) {
  fs_repo *r = self;
  sqlite3_stmt *st;
  pthread_mutex_lock(&r->mu);
  mr_rc rc = prepare(r, "SELECT version FROM aliases WHERE model = ?1 AND alias = ?2", &st, err);
  if (rc == MR_OK) {
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, alias, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
      *version = (uint64_t)sqlite3_column_int64(st, 0);
    else if (s == SQLITE_DONE)
      rc = alias_missing(r, model, alias, err);
    else
      rc = db_fail(r, err, "reading an alias");
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

static mr_rc fs_delete_alias(void *self, const char *model, const char *alias, int64_t now_ns, mr_err *err) {
  fs_repo *r = self;
  sqlite3_stmt *st;
  mr_rc rc = begin_write(r, err);
  if (rc == MR_OK) rc = prepare(r, "DELETE FROM aliases WHERE model = ?1 AND alias = ?2", &st, err);
  if (rc == MR_OK) {
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, alias, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
      rc = db_fail(r, err, "deleting an alias");
    else if (sqlite3_changes(r->db) == 0)
      rc = alias_missing(r, model, alias, err);
    sqlite3_finalize(st);
  }
  return end_write(r, rc, model, now_ns, err);
}

static mr_rc fs_list_aliases(void *self, const char *model, mr_arena *a, mr_alias **out, size_t *n, mr_err *err) {
  fs_repo *r = self;
  sqlite3_stmt *st;
  size_t cap = 16;
  *n = 0;
  *out = a->alloc(a->ctx, cap * sizeof **out);
  if (!*out) return mr_err_set(err, MR_FAILED, "out of memory");
  pthread_mutex_lock(&r->mu);
  mr_rc rc = prepare(r, "SELECT alias, version FROM aliases WHERE model = ?1 ORDER BY alias", &st, err);
  if (rc == MR_OK) {
    sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC);
    int s;
    while (rc == MR_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
      if (*n == cap) {
        mr_alias *grown = a->alloc(a->ctx, 2 * cap * sizeof *grown);
        if (!grown) {
          rc = mr_err_set(err, MR_FAILED, "out of memory");
          break;
        }
        memcpy(grown, *out, cap * sizeof *grown);
        *out = grown;
        cap *= 2;
      }
      mr_alias *al = &(*out)[(*n)++];
      al->model_name = mr_arena_strdup(a, model);
      al->alias = col_text(a, st, 0);
      al->version = (uint64_t)sqlite3_column_int64(st, 1);
      if (!al->model_name || !al->alias) rc = mr_err_set(err, MR_FAILED, "out of memory");
    }
    if (rc == MR_OK && s != SQLITE_DONE) rc = db_fail(r, err, "listing aliases");
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&r->mu);
  return rc;
}

/* ---- uploads ------------------------------------------------------------------------- */

static void upload_free(fs_upload *up) {
  if (!up) return;
  if (up->fd >= 0) close(up->fd);
  if (up->tmp_path) unlink(up->tmp_path);
  free(up->tmp_path);
  free(up->model);
  free(up);
}

static mr_rc fs_upload_begin(void *self, const char *model, void **upload, mr_err *err) {
  fs_repo *r = self;
  pthread_mutex_lock(&r->mu);
  int e = model_exists(r, model, err);
  pthread_mutex_unlock(&r->mu);
  if (e < 0) return MR_FAILED;
  if (e == 0) return mr_err_no_model(err, model);
  fs_upload *up = calloc(1, sizeof *up);
  size_t cap = strlen(r->dir) + 32;
  if (up) {
    up->fd = -1;
    up->tmp_path = malloc(cap);
    up->model = strdup(model);
  }
  if (!up || !up->tmp_path || !up->model) {
    upload_free(up);
    return mr_err_set(err, MR_FAILED, "out of memory");
  }
  snprintf(up->tmp_path, cap, "%s/tmp/upload-XXXXXX", r->dir);
  up->fd = mkstemp(up->tmp_path);
  if (up->fd < 0) {
    mr_rc rc = io_fail(err, "cannot create", up->tmp_path);
    free(up->tmp_path);
    up->tmp_path = NULL;
    upload_free(up);
    return rc;
  }
  *upload = up;
  return MR_OK;
}

static mr_rc fs_upload_write(void *self, void *upload, const uint8_t *data, size_t len, mr_err *err) {
  (void)self;
  fs_upload *up = upload;
  while (len > 0) {
    ssize_t w = write(up->fd, data, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return io_fail(err, "cannot write", up->tmp_path);
    data += w;
    len -= (size_t)w;
  }
  return MR_OK;
}

static int fsync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* Next version number, or checks that an explicit one is free. Call inside the transaction. */
static mr_rc pick_version(fs_repo *r, mr_version *v, mr_err *err) {
  sqlite3_stmt *st;
  const char *sql = v->version ? "SELECT 1 FROM versions WHERE model = ?1 AND version = ?2"
                               : "SELECT coalesce(max(version), 0) + 1 FROM versions WHERE model = ?1";
  if (prepare(r, sql, &st, err) != MR_OK) return MR_FAILED;
  sqlite3_bind_text(st, 1, v->model_name, -1, SQLITE_STATIC);
  if (v->version) sqlite3_bind_int64(st, 2, (sqlite3_int64)v->version);
  int s = sqlite3_step(st);
  mr_rc rc = MR_OK;
  if (v->version && s == SQLITE_ROW)
    rc = mr_err_version_exists(err, v->model_name, v->version);
  else if (!v->version && s == SQLITE_ROW)
    v->version = (uint64_t)sqlite3_column_int64(st, 0);
  else if (s != SQLITE_DONE)
    rc = db_fail(r, err, "numbering a version");
  sqlite3_finalize(st);
  return rc;
}

static mr_rc insert_version(fs_repo *r, const mr_version *v, mr_err *err) {
  sqlite3_stmt *st;
  if (prepare(r, "INSERT INTO versions (" FS_VERSION_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &st,
              err) != MR_OK)
    return MR_FAILED;
  sqlite3_bind_text(st, 1, v->model_name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)v->version);
  sqlite3_bind_int(st, 3, v->status);
  sqlite3_bind_text(st, 4, v->framework ? v->framework : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, v->description ? v->description : "", -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 6, v->spec_len ? (const void *)v->spec : "", (int)v->spec_len, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, v->sha256, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 8, (sqlite3_int64)v->size_bytes);
  sqlite3_bind_int64(st, 9, v->created_ns);
  int s = sqlite3_step(st);
  sqlite3_finalize(st);
  return s == SQLITE_DONE ? MR_OK : db_fail(r, err, "inserting a version");
}

static mr_rc fs_upload_commit(void *self, void *upload, mr_version *v, int64_t now_ns, mr_err *err) {
  fs_repo *r = self;
  fs_upload *up = upload;
  char *dir = NULL, *path = NULL;
  int renamed = 0;
  if (fsync(up->fd) != 0) {
    mr_rc rc = io_fail(err, "cannot fsync", up->tmp_path);
    upload_free(up);
    return rc;
  }
  pthread_mutex_lock(&r->mu);
  uint64_t asked = v->version;
  mr_rc rc = exec(r, "BEGIN IMMEDIATE", err);
  if (rc == MR_OK) {
    int e = model_exists(r, v->model_name, err);
    rc = e < 0 ? MR_FAILED : e == 0 ? mr_err_no_model(err, v->model_name) : MR_OK;
  }
  if (rc == MR_OK) rc = pick_version(r, v, err);
  if (rc == MR_OK) {
    dir = artifact_path(r, v->model_name, 0);
    path = artifact_path(r, v->model_name, v->version);
    if (!dir || !path) rc = mr_err_set(err, MR_FAILED, "out of memory");
  }
  if (rc == MR_OK && mkdir(dir, 0755) != 0 && errno != EEXIST) rc = io_fail(err, "cannot create", dir);
  if (rc == MR_OK) {
    if (rename(up->tmp_path, path) != 0)
      rc = io_fail(err, "cannot move the upload to", path);
    else
      renamed = 1;
  }
  if (rc == MR_OK && fsync_dir(dir) != 0) rc = io_fail(err, "cannot fsync", dir);
  if (rc == MR_OK) rc = insert_version(r, v, err);
  if (rc == MR_OK) rc = touch_model(r, v->model_name, now_ns, err);
  if (rc == MR_OK) rc = exec(r, "COMMIT", err);
  if (rc != MR_OK) {
    rollback(r);
    if (renamed) unlink(path);
    v->version = asked;
  }
  pthread_mutex_unlock(&r->mu);
  if (renamed) {
    free(up->tmp_path);
    up->tmp_path = NULL; /* nothing left to unlink */
  }
  upload_free(up);
  free(dir);
  free(path);
  return rc;
}

static void fs_upload_abort(void *self, void *upload) {
  (void)self;
  upload_free(upload);
}

/* ---- reading artifacts ------------------------------------------------------------- */

static mr_rc fs_artifact_open(void *self, const char *model, uint64_t version, void **reader, mr_err *err) {
  fs_repo *r = self;
  mr_scratch scratch = {0};
  mr_arena a = mr_scratch_arena(&scratch);
  mr_version v;
  mr_rc rc = fs_get_version(self, model, version, &a, &v, err);
  mr_scratch_free(&scratch);
  if (rc != MR_OK) return rc;
  char *path = artifact_path(r, model, version);
  fs_reader *rd = calloc(1, sizeof *rd);
  if (!path || !rd) {
    free(path);
    free(rd);
    return mr_err_set(err, MR_FAILED, "out of memory");
  }
  rd->fd = open(path, O_RDONLY);
  if (rd->fd < 0) {
    rc = io_fail(err, "cannot open", path);
    free(rd);
  } else {
    *reader = rd;
  }
  free(path);
  return rc;
}

static mr_rc fs_artifact_read(void *self, void *reader, uint8_t *buf, size_t cap, size_t *got, mr_err *err) {
  (void)self;
  fs_reader *rd = reader;
  *got = 0;
  while (*got < cap) {
    ssize_t n = read(rd->fd, buf + *got, cap - *got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return mr_err_set(err, MR_FAILED, "artifact store: read failed: %s", strerror(errno));
    if (n == 0) break;
    *got += (size_t)n;
  }
  return MR_OK;
}

static void fs_artifact_close(void *self, void *reader) {
  (void)self;
  fs_reader *rd = reader;
  if (!rd) return;
  close(rd->fd);
  free(rd);
}

/* ---- open and close ------------------------------------------------------------------- */

static void fs_close(void *self) {
  fs_repo *r = self;
  if (!r) return;
  sqlite3_close(r->db);
  pthread_mutex_destroy(&r->mu);
  free(r->dir);
  free(r);
}

static const mr_backend_ops fs_ops = {
    .name = "fs",
    .close = fs_close,
    .create_model = fs_create_model,
    .get_model = fs_get_model,
    .list_models = fs_list_models,
    .delete_model = fs_delete_model,
    .get_version = fs_get_version,
    .list_versions = fs_list_versions,
    .set_status = fs_set_status,
    .set_alias = fs_set_alias,
    .get_alias = fs_get_alias,
    .delete_alias = fs_delete_alias,
    .list_aliases = fs_list_aliases,
    .upload_begin = fs_upload_begin,
    .upload_write = fs_upload_write,
    .upload_commit = fs_upload_commit,
    .upload_abort = fs_upload_abort,
    .artifact_open = fs_artifact_open,
    .artifact_read = fs_artifact_read,
    .artifact_close = fs_artifact_close,
};

/* mkdir that accepts an existing directory. */
static mr_rc ensure_dir(const char *path, mr_err *err) {
  if (mkdir(path, 0755) == 0 || errno == EEXIST) return MR_OK;
  return io_fail(err, "cannot create", path);
}

/* Uploads interrupted by a crash left temp files: they were never versions. */
static void clear_tmp(const char *tmp) {
  DIR *d = opendir(tmp);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "upload-", 7) != 0) continue;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", tmp, e->d_name) < (int)sizeof path) unlink(path);
  }
  closedir(d);
}

mr_rc mr_fs_open(const char *dir, mr_backend *out, mr_err *err) {
  char path[4096];
  if (strlen(dir) > sizeof path - 64) return mr_err_set(err, MR_FAILED, "data directory path is too long");
  mr_rc rc = shim_mkdir_p(dir) == 0 ? MR_OK : io_fail(err, "cannot create", dir); /* data/models: data/ too */
  snprintf(path, sizeof path, "%s/artifacts", dir);
  if (rc == MR_OK) rc = ensure_dir(path, err);
  snprintf(path, sizeof path, "%s/tmp", dir);
  if (rc == MR_OK) rc = ensure_dir(path, err);
  if (rc != MR_OK) return rc;
  clear_tmp(path);

  fs_repo *r = calloc(1, sizeof *r);
  if (!r || !(r->dir = strdup(dir))) {
    free(r);
    return mr_err_set(err, MR_FAILED, "out of memory");
  }
  pthread_mutex_init(&r->mu, NULL);
  snprintf(path, sizeof path, "%s/metadata.sqlite3", dir);
  if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
      SQLITE_OK) {
    rc = mr_err_set(err, MR_FAILED, "cannot open SQLite database %s: %s", path,
                    r->db ? sqlite3_errmsg(r->db) : "out of memory");
    fs_close(r);
    return rc;
  }
  sqlite3_busy_timeout(r->db, 5000);
  rc = exec(r, "PRAGMA journal_mode = WAL", err);
  if (rc == MR_OK) rc = exec(r, "PRAGMA synchronous = FULL", err);
  if (rc == MR_OK) rc = exec(r, "PRAGMA foreign_keys = ON", err);
  if (rc == MR_OK) rc = exec(r, FS_SCHEMA_SQL, err);
  if (rc != MR_OK) {
    fs_close(r);
    return rc;
  }
  out->ops = &fs_ops;
  out->self = r;
  return MR_OK;
}
