/*
 * arena.h - a per-call bump allocator.
 *
 * Everything a call owns (copies of metadata, the decoded unary request, the
 * response and whatever the handler puts in it via shimkit_call_alloc) is
 * carved out of one arena and released at once when the call ends. A worker
 * keeps its arena between calls (reset keeps the first block), so a small
 * call costs no malloc at all. Every arena has a hard byte limit.
 */
#ifndef SHIMKIT__ARENA_H
#define SHIMKIT__ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct shimkit__arena_block shimkit__arena_block;

typedef struct shimkit__arena {
  shimkit__arena_block *head; /* newest block first; the last one is kept by reset */
  size_t used;                /* bytes handed out plus block headers, for the limit */
  size_t limit;               /* most bytes this arena may hold; alloc fails beyond */
  ProtobufCAllocator pb;      /* protobuf-c allocator backed by this arena */
} shimkit__arena;

/* Sets up an empty arena that may grow to limit bytes. Never fails. */
void shimkit__arena_init(shimkit__arena *a, size_t limit);

/* size zeroed bytes aligned for any type, or NULL when out of memory or over the limit. */
void *shimkit__arena_alloc(shimkit__arena *a, size_t size);

/* A copy of len bytes plus a NUL, or NULL. */
char *shimkit__arena_strndup(shimkit__arena *a, const char *s, size_t len);

/* Releases everything handed out; keeps one small block for the next call. */
void shimkit__arena_reset(shimkit__arena *a);

/* Releases all memory. The arena may be init'ed again. Accepts NULL. */
void shimkit__arena_destroy(shimkit__arena *a);

/* A protobuf-c allocator drawing from a; its free is a no-op (reset frees). */
ProtobufCAllocator *shimkit__arena_allocator(shimkit__arena *a);

#endif /* SHIMKIT__ARENA_H */
