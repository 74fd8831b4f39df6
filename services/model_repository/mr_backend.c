/*
 * mr_backend.c - what every model repository back end shares: the wording of
 * NOT_FOUND / ALREADY_EXISTS messages (so both back ends say the same thing)
 * and the arenas their results are allocated from.
 */
#include "mr_backend.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---------------------------------------------------------------- */

mr_rc mr_err_set(mr_err *err, mr_rc rc, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return rc;
}

mr_rc mr_err_no_model(mr_err *err, const char *model) {
  return mr_err_set(err, MR_NOT_FOUND, "model '%s' not found", model);
}

mr_rc mr_err_no_version(mr_err *err, const char *model, uint64_t version) {
  return mr_err_set(err, MR_NOT_FOUND, "version %" PRIu64 " of model '%s' not found", version, model);
}

mr_rc mr_err_no_alias(mr_err *err, const char *model, const char *alias) {
  return mr_err_set(err, MR_NOT_FOUND, "alias '%s' of model '%s' not found", alias, model);
}

mr_rc mr_err_model_exists(mr_err *err, const char *model) {
  return mr_err_set(err, MR_EXISTS, "model '%s' already exists", model);
}

mr_rc mr_err_version_exists(mr_err *err, const char *model, uint64_t version) {
  return mr_err_set(err, MR_EXISTS, "version %" PRIu64 " of model '%s' already exists", version, model);
}

/* ---- arenas ----------------------------------------------------------------- */

char *mr_arena_strdup(mr_arena *arena, const char *s) {
  if (!s) s = "";
  return mr_arena_memdup(arena, s, strlen(s) + 1);
}

void *mr_arena_memdup(mr_arena *arena, const void *p, size_t len) {
  void *copy = arena->alloc(arena->ctx, len ? len : 1);
  if (copy && len) memcpy(copy, p, len);
  return copy;
}

struct mr_scratch_block {
  struct mr_scratch_block *next; /* older block */
  max_align_t data[];            /* the caller's bytes */
};

static void *scratch_alloc(void *ctx, size_t size) {
  mr_scratch *s = ctx;
  struct mr_scratch_block *b = calloc(1, sizeof *b + size);
  if (!b) return NULL;
  b->next = s->blocks;
  s->blocks = b;
  return b->data;
}

mr_arena mr_scratch_arena(mr_scratch *scratch) {
  return (mr_arena){.alloc = scratch_alloc, .ctx = scratch};
}

void mr_scratch_free(mr_scratch *scratch) {
  if (!scratch) return;
  while (scratch->blocks) {
    struct mr_scratch_block *next = scratch->blocks->next;
    free(scratch->blocks);
    scratch->blocks = next;
  }
}
