/*
 * arena_api.c - shimkit/arena.h: the runtime's per-call bump allocator
 * (arena.c) behind a public opaque handle, for clients that decode large
 * responses.
 */
#include <stdlib.h>

#include "arena.h"
#include "shimkit/arena.h"

#define DEFAULT_LIMIT ((size_t)64 * 1024 * 1024)

struct shimkit_arena {
  shimkit__arena a;
};

shimkit_arena *shimkit_arena_new(size_t limit) {
  shimkit_arena *arena = malloc(sizeof *arena);
  if (arena != NULL) {
    shimkit__arena_init(&arena->a, limit == 0 ? DEFAULT_LIMIT : limit);
  }
  return arena;
}

ProtobufCAllocator *shimkit_arena_allocator(shimkit_arena *arena) {
  return arena != NULL ? shimkit__arena_allocator(&arena->a) : NULL;
}

void shimkit_arena_reset(shimkit_arena *arena) {
  if (arena != NULL) {
    shimkit__arena_reset(&arena->a);
  }
}

void shimkit_arena_free(shimkit_arena *arena) {
  if (arena != NULL) {
    shimkit__arena_destroy(&arena->a);
    free(arena);
  }
}
