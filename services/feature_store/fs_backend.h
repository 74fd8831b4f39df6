/*
 * fs_backend.h - the native adapter of the FeatureStore shim.
 *
 * The handlers (fs_handlers.c) own everything that does not depend on where
 * features are kept: validation against a view's typed schema, feature
 * selection and order, paging, streaming, export grouping. A back end
 * (sqlite/, redis/) only stores and fetches, through one struct of function
 * pointers, fs_backend_ops, in plain C types (no protobuf here).
 *
 * Errors: every operation returns an fs_rc and, when it is not FS_OK, writes
 * a sentence a person can act on into err->msg. fs_handlers maps fs_rc to a
 * gRPC status in one place (fs_rc_to_code).
 *
 * Memory: results are allocated from the fs_mem passed in and live as long as
 * it does; a back end never frees them. Inputs are borrowed for the call.
 *
 * Threads: handlers run on several worker threads; each back end keeps a small
 * pool of connections and gives each operation one of them.
 */
#ifndef FS_BACKEND_H
#define FS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs_mem.h"

/* ---- results ---------------------------------------------------------------- */

typedef enum fs_rc {
  FS_OK = 0,
  FS_NOT_FOUND,   /* the view does not exist */
  FS_EXISTS,      /* a view of that name exists already */
  FS_UNAVAILABLE, /* the store cannot be reached now (server down, database locked); retry */
  FS_FULL,        /* out of space or memory */
  FS_CORRUPT,     /* stored data cannot be read back */
  FS_ERROR,       /* anything else: a bug or an unexpected answer of the store */
  FS_CHANGED      /* the view was deleted and re-created since its definition was read */
} fs_rc;

#define FS_ERR_MAX 512
typedef struct fs_err {
  char msg[FS_ERR_MAX]; /* set when an operation returns something other than FS_OK */
} fs_err;

/* Formats err->msg; returns rc so a back end can write return fs_fail(err, FS_X, ...). */
fs_rc fs_fail(fs_err *err, fs_rc rc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- data -------------------------------------------------------------------- */

/* Same numbers as shimkit.ml.v1.FeatureType. */
typedef enum fs_type {
  FS_TYPE_UNSPECIFIED = 0,
  FS_TYPE_INT64 = 1,
  FS_TYPE_DOUBLE = 2,
  FS_TYPE_STRING = 3,
  FS_TYPE_BOOL = 4
} fs_type;

typedef struct fs_value {
  fs_type type; /* which member holds the value */
  union {
    int64_t i;     /* FS_TYPE_INT64 */
    double d;      /* FS_TYPE_DOUBLE */
    const char *s; /* FS_TYPE_STRING, NUL-terminated UTF-8 */
    bool b;        /* FS_TYPE_BOOL */
  } u;
} fs_value;

/* An event time: google.protobuf.Timestamp's two fields. */
typedef struct fs_time {
  int64_t sec;   /* seconds since the Unix epoch */
  int32_t nanos; /* 0..999999999 */
} fs_time;

/* <0, 0, >0 as a is before, equal to, after b. */
int fs_time_cmp(fs_time a, fs_time b);

/* One stored feature value of one entity. */
typedef struct fs_cell {
  size_t feature; /* index into the view's features */
  fs_value value; /* its type is the feature's type */
  fs_time time;   /* event time of the value */
} fs_cell;

/* One entity: its key and some of its features (any order, each at most once). */
typedef struct fs_entity {
  const char *key; /* entity key value */
  size_t n_cells;  /* 0 for an entity never written */
  fs_cell *cells;
} fs_entity;

typedef struct fs_feature {
  const char *name;        /* unique in the view */
  fs_type type;            /* never FS_TYPE_UNSPECIFIED */
  const char *description; /* may be "" */
} fs_feature;

/* A feature view definition; validated by the handlers before a back end sees it. */
typedef struct fs_view {
  const char *name;        /* [A-Za-z0-9_.-]{1,128} */
  const char *entity_key;  /* name of the entity key column */
  const char *description; /* may be "" */
  fs_time created;         /* set by the handlers on create */
  size_t n_features;
  fs_feature *features;
  const size_t *by_name;   /* feature indexes in name order (fs_view_index), or NULL */
} fs_view;

/* Index of the feature called name in view, or -1 (a binary search once view->by_name is set). */
long fs_view_feature(const fs_view *view, const char *name);

/* "INT64", "DOUBLE", ... for messages. */
const char *fs_type_name(fs_type type);

/* ---- the adapter ------------------------------------------------------------- */

typedef struct fs_backend_ops {
  const char *name; /* "sqlite", "redis" */

  /* Stores a new view. FS_EXISTS when the name is taken. */
  fs_rc (*create_view)(void *be, const fs_view *view, fs_err *err);
  /* Fills *out (strings from mem). FS_NOT_FOUND when there is no such view. */
  fs_rc (*get_view)(void *be, const char *name, fs_mem *mem, fs_view *out, fs_err *err);
  /* Up to limit views whose names sort after `after` ("" = from the start), by name. */
  fs_rc (*list_views)(void *be, const char *after, size_t limit, fs_mem *mem, fs_view **out,
                      size_t *n_out, fs_err *err);
  /* Removes a view and every value of it. FS_NOT_FOUND when there is no such view. */
  fs_rc (*delete_view)(void *be, const char *name, fs_err *err);
  /*
   * Writes a batch all or nothing: a cell replaces the stored value of its
   * (entity, feature) unless the stored one has a later event time (ties:
   * the new value wins). FS_OK means durable (committed / fsynced).
   * In the same transaction (SQLite) or script (Redis) as the batch, the
   * stored view must still have view->created: FS_NOT_FOUND when it was
   * deleted meanwhile, FS_CHANGED when it was deleted and re-created (by any
   * shim), and then nothing of the batch is written.
   */
  fs_rc (*write)(void *be, const fs_view *view, const fs_entity *rows, size_t n_rows, fs_err *err);
  /*
   * Latest values of the given entities: out[i] gets keys[i] and its stored
   * cells (n_cells 0 for an unknown key). out has n_keys entries.
   * view may come from the handlers' cache (fs_views.h): in the same snapshot
   * or round trip as the values, the back end checks that the stored view
   * still has view->created, and answers FS_NOT_FOUND when it does not
   * (deleted, or deleted and re-created since view was read).
   */
  fs_rc (*lookup)(void *be, const fs_view *view, const char *const *keys, size_t n_keys,
                  fs_mem *mem, fs_entity *out, fs_err *err);
  /* Up to limit entities of the view with keys after `after` ("" = first), by key, with their cells. */
  fs_rc (*scan)(void *be, const fs_view *view, const char *after, size_t limit, fs_mem *mem,
                fs_entity **out, size_t *n_out, fs_err *err);
  /* Closes the connection and frees be. Accepts NULL. */
  void (*close)(void *be);
} fs_backend_ops;

/* A back end: its operations and its own state. */
typedef struct fs_backend {
  const fs_backend_ops *ops;
  void *be;
  struct fs_views *views; /* the handlers' cache of definitions (fs_views_new), or NULL for none */
} fs_backend;

#endif /* FS_BACKEND_H */
