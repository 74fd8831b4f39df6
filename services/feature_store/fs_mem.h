/*
 * fs_mem.h - a bump allocator for the results of one back-end operation.
 *
 * Back ends allocate everything they return from an fs_mem, so that neither
 * they nor the handlers free result structures one by one: a unary handler
 * drops the whole arena when the call ends, a streaming handler resets it
 * after each page it sent. A hard limit bounds how much one arena may hold.
 */
#ifndef FS_MEM_H
#define FS_MEM_H

#include <stddef.h>

typedef struct fs_mem_block fs_mem_block;

typedef struct fs_mem {
  fs_mem_block *blocks; /* newest first; owned */
  size_t used;          /* bytes handed out since the last reset */
  size_t limit;         /* fs_mem_alloc fails past this many bytes */
  /* When set, memory comes from here instead (e.g. shimkit_call_alloc, which
   * must return zeroed memory) and is never freed by the arena. */
  void *(*ext_alloc)(void *ctx, size_t size);
  void *ext_ctx; /* passed to ext_alloc */
} fs_mem;

/* An empty arena that hands out at most limit bytes. Never fails (allocates lazily). */
void fs_mem_init(fs_mem *mem, size_t limit);

/* An arena over an outside allocator (zeroed memory, freed by its owner), still bounded by limit. */
void fs_mem_init_external(fs_mem *mem, size_t limit, void *(*alloc)(void *ctx, size_t size), void *ctx);

/* size zeroed bytes, aligned for any type; NULL when out of memory or past the limit. */
void *fs_mem_alloc(fs_mem *mem, size_t size);

/* A copy of s (s must not be NULL); NULL when out of memory or past the limit. */
char *fs_mem_strdup(fs_mem *mem, const char *s);

/* A NUL-terminated copy of len bytes. NULL on failure. */
char *fs_mem_strndup(fs_mem *mem, const char *s, size_t len);

/* Frees everything handed out; the arena stays usable. */
void fs_mem_reset(fs_mem *mem);

/* Frees everything. The arena may be initialised again. Accepts NULL. */
void fs_mem_free(fs_mem *mem);

#endif /* FS_MEM_H */
