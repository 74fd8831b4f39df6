/*
 * arena.c - memory and errors for one generator run.
 *
 * The plugin builds many small strings. Instead of freeing each one, they
 * all come from an arena that sk_run() frees at the end, and any failure
 * (bad input, a limit hit, malloc returning NULL) longjmps back to sk_run().
 * The arena has a hard byte limit so hostile input cannot eat the machine.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

struct sk_chunk {
  sk_chunk *next;      /* older chunk */
  size_t size;         /* usable bytes after the header */
  size_t used;         /* bytes handed out */
  max_align_t data[];  /* the memory */
};

#define SK_CHUNK_SIZE (64u * 1024u)

void sk_ctx_init(sk_ctx *ctx) {
  ctx->error[0] = '\0';
  ctx->chunks = NULL;
  ctx->used = 0;
  ctx->limit = SK_MAX_ARENA_BYTES;
}

void sk_ctx_release(sk_ctx *ctx) {
  sk_chunk *c = ctx->chunks;
  while (c != NULL) {
    sk_chunk *next = c->next;
    free(c);
    c = next;
  }
  ctx->chunks = NULL;
  ctx->used = 0;
}

void sk_fail(sk_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx->error, sizeof ctx->error, fmt, ap);
  va_end(ap);
  longjmp(ctx->fail, 1);
}

void *sk_alloc(sk_ctx *ctx, size_t size) {
  const size_t align = sizeof(max_align_t);
  if (size > ctx->limit) sk_fail(ctx, "out of memory (limit %zu bytes)", ctx->limit);
  size_t rounded = (size + align - 1) / align * align;
  if (rounded == 0) rounded = align;
  sk_chunk *c = ctx->chunks;
  if (c == NULL || c->size - c->used < rounded) {
    size_t want = rounded > SK_CHUNK_SIZE ? rounded : SK_CHUNK_SIZE;
    if (want > ctx->limit - ctx->used) sk_fail(ctx, "out of memory (limit %zu bytes)", ctx->limit);
    sk_chunk *n = malloc(sizeof *n + want);
    if (n == NULL) sk_fail(ctx, "out of memory");
    ctx->used += want;
    n->size = want;
    n->used = 0;
    if (c != NULL && rounded > SK_CHUNK_SIZE) {
      /* a big block: keep the current chunk on top for small allocations */
      n->next = c->next;
      c->next = n;
    } else {
      n->next = c;
      ctx->chunks = n;
    }
    c = n;
  }
  void *p = (char *)c->data + c->used;
  c->used += rounded;
  memset(p, 0, size);
  return p;
}

char *sk_strndup(sk_ctx *ctx, const char *s, size_t n) {
  char *d = sk_alloc(ctx, n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *sk_strdup(sk_ctx *ctx, const char *s) { return sk_strndup(ctx, s, strlen(s)); }

char *sk_printf(sk_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) sk_fail(ctx, "formatting failed");
  char *s = sk_alloc(ctx, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}
