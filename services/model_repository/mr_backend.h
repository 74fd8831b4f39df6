/*
 * mr_backend.h - the native interface of the model repository, as the shared
 * handlers see it: a struct of function pointers that each back end
 * (fs_sqlite/, postgres/) fills. The handlers validate requests, check the
 * sha256 of uploads, stream and convert between protobuf and these plain
 * records; a back end only stores and fetches.
 *
 * Records: strings and blobs in records a back end returns are allocated
 * from the mr_arena the caller passes (they live as long as the arena).
 * Records passed in are only borrowed for the duration of the call.
 *
 * Metadata that is not queried (a model's tags; a version's inputs, outputs
 * and tags) travels as opaque bytes: a serialized shimkit.ml.v1.RegisteredModel
 * or ModelVersion holding only those fields (mr_convert.c packs them).
 *
 * Errors: every operation returns an mr_rc and, unless MR_OK, a message in
 * *err that names what was missing or failed (the handlers send it as the
 * gRPC status message; mr_handlers.c maps the mr_rc to the gRPC code).
 * Operations are called from several worker threads at once.
 */
#ifndef MR_BACKEND_H
#define MR_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* What went wrong, in back-end neutral terms. */
typedef enum mr_rc {
  MR_OK = 0,
  MR_NOT_FOUND,   /* model, version or alias does not exist */
  MR_EXISTS,      /* model (or, on import, version) already exists */
  MR_UNAVAILABLE, /* the native service cannot be reached now; retrying later may work */
  MR_FAILED,      /* anything else: I/O error, corrupt store, out of memory */
} mr_rc;

#define MR_ERR_MAX 512

/* The message that goes with a non-OK mr_rc. */
typedef struct mr_err {
  char msg[MR_ERR_MAX];
} mr_err;

/* Where returned records live: alloc hands out zeroed memory that the owner frees at once. */
typedef struct mr_arena {
  void *(*alloc)(void *ctx, size_t size); /* zeroed memory, or NULL */
  void *ctx;
} mr_arena;

/* A registered model. */
typedef struct mr_model {
  const char *name;
  const char *description;
  const uint8_t *tags; /* serialized RegisteredModel with only tags set */
  size_t tags_len;
  int64_t created_ns; /* Unix time, nanoseconds */
  int64_t updated_ns;
  uint64_t latest_version; /* returned only: highest version number, 0 when none */
} mr_model;

/* One version of a model (its artifact is read through artifact_open). */
typedef struct mr_version {
  const char *model_name;
  uint64_t version; /* 1, 2, 3 ... per model */
  int status;       /* shimkit.ml.v1.VersionStatus value */
  const char *framework;
  const char *description;
  const uint8_t *spec; /* serialized ModelVersion with only inputs, outputs, tags set */
  size_t spec_len;
  const char *sha256; /* 64 lower-case hex digits */
  uint64_t size_bytes;
  int64_t created_ns;
} mr_version;

/* An alias: a name that points at one version of a model. */
typedef struct mr_alias {
  const char *model_name;
  const char *alias;
  uint64_t version;
} mr_alias;

/*
 * The operations. self is the back end's handle. now_ns, where passed, is the
 * time the handler stamps on the model's updated_ns; 0 leaves it alone (Import
 * replays stored times).
 */
typedef struct mr_backend_ops {
  const char *name; /* "fs", "postgres": for messages */

  /* Frees the back end and everything it holds. Accepts NULL. */
  void (*close)(void *self);

  /* Stores a new model (created_ns, updated_ns as given). MR_EXISTS if the name is taken. */
  mr_rc (*create_model)(void *self, const mr_model *model, mr_err *err);
  mr_rc (*get_model)(void *self, const char *name, mr_arena *arena, mr_model *out, mr_err *err);
  /* Models whose name starts with prefix and sorts after `after` (both may be ""), by name,
   * at most limit; *out is an array from the arena. */
  mr_rc (*list_models)(void *self, const char *prefix, const char *after, size_t limit,
                       mr_arena *arena, mr_model **out, size_t *n, mr_err *err);
  /* Deletes the model, its versions, artifacts and aliases. */
  mr_rc (*delete_model)(void *self, const char *name, mr_err *err);

  mr_rc (*get_version)(void *self, const char *model, uint64_t version, mr_arena *arena,
                       mr_version *out, mr_err *err);
  /* Versions numbered above `after`, ascending, at most limit. MR_NOT_FOUND for an unknown model. */
  mr_rc (*list_versions)(void *self, const char *model, uint64_t after, size_t limit,
                         mr_arena *arena, mr_version **out, size_t *n, mr_err *err);
  mr_rc (*set_status)(void *self, const char *model, uint64_t version, int status,
                      int64_t now_ns, mr_err *err);

  /* Creates or moves an alias; MR_NOT_FOUND when the model or version does not exist. */
  mr_rc (*set_alias)(void *self, const mr_alias *alias, int64_t now_ns, mr_err *err);
  mr_rc (*get_alias)(void *self, const char *model, const char *alias, uint64_t *version,
                     mr_err *err);
  mr_rc (*delete_alias)(void *self, const char *model, const char *alias, int64_t now_ns,
                        mr_err *err);
  /* Every alias of a model, by alias name. */
  mr_rc (*list_aliases)(void *self, const char *model, mr_arena *arena, mr_alias **out,
                        size_t *n, mr_err *err);

  /*
   * Uploads. begin checks that the model exists and returns a handle that
   * write appends to; nothing is visible until commit. commit stores the
   * version with the metadata in *v (v->version 0: the next number, written
   * back into v->version; otherwise exactly that number, MR_EXISTS if taken)
   * and consumes the handle whatever it returns; abort drops it (accepts NULL).
   */
  mr_rc (*upload_begin)(void *self, const char *model, void **upload, mr_err *err);
  mr_rc (*upload_write)(void *self, void *upload, const uint8_t *data, size_t len, mr_err *err);
  mr_rc (*upload_commit)(void *self, void *upload, mr_version *v, int64_t now_ns, mr_err *err);
  void (*upload_abort)(void *self, void *upload);

  /* Reading an artifact: open, read until *got is 0, close (accepts NULL). */
  mr_rc (*artifact_open)(void *self, const char *model, uint64_t version, void **reader,
                         mr_err *err);
  mr_rc (*artifact_read)(void *self, void *reader, uint8_t *buf, size_t cap, size_t *got,
                         mr_err *err);
  void (*artifact_close)(void *self, void *reader);
} mr_backend_ops;

/* A back end: its operations and its handle. */
typedef struct mr_backend {
  const mr_backend_ops *ops;
  void *self;
} mr_backend;

/* ---- helpers for back ends (mr_backend.c) ---------------------------------- */

/* Formats err (printf-style) and returns rc. */
mr_rc mr_err_set(mr_err *err, mr_rc rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The NOT_FOUND / EXISTS messages every back end uses, so that clients see the same words. */
mr_rc mr_err_no_model(mr_err *err, const char *model);
mr_rc mr_err_no_version(mr_err *err, const char *model, uint64_t version);
mr_rc mr_err_no_alias(mr_err *err, const char *model, const char *alias);
mr_rc mr_err_model_exists(mr_err *err, const char *model);
mr_rc mr_err_version_exists(mr_err *err, const char *model, uint64_t version);

/* Arena copies; NULL when out of memory. mr_arena_memdup of 0 bytes returns a non-NULL pointer. */
char *mr_arena_strdup(mr_arena *arena, const char *s);
void *mr_arena_memdup(mr_arena *arena, const void *p, size_t len);

/* A heap arena: blocks freed together by mr_scratch_free (used where no call owns the memory). */
typedef struct mr_scratch {
  struct mr_scratch_block *blocks;
} mr_scratch;
mr_arena mr_scratch_arena(mr_scratch *scratch);
void mr_scratch_free(mr_scratch *scratch);

#endif /* MR_BACKEND_H */
