/*
 * shimkit/arena.h - a bump allocator for decoded messages.
 *
 * protobuf-c's default allocator makes one malloc per sub-message, string and
 * repeated field of a decoded message, and protobuf_c_message_free_unpacked
 * one free each: for a response with hundreds of small sub-messages that is
 * most of the cost of receiving it. Given as shimkit_call_options.allocator,
 * an arena takes those allocations from a few large blocks instead; the
 * caller drops every message decoded into it at once with
 * shimkit_arena_reset() (never protobuf_c_message_free_unpacked) and reuses
 * the arena for the next call. Every arena has a hard byte limit.
 *
 * Threads: an arena is not thread-safe; use one per thread (or per call).
 */
#ifndef SHIMKIT_ARENA_H
#define SHIMKIT_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "shimkit/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shimkit_arena shimkit_arena;

/**
 * An empty arena that may hold up to limit bytes (0 = 64 MiB); allocations
 * beyond fail, so a decode fails rather than exhausting memory. NULL when out
 * of memory. Free with shimkit_arena_free().
 */
SHIMKIT_API shimkit_arena *shimkit_arena_new(size_t limit);

/**
 * The protobuf-c allocator drawing from arena (owned by it, valid until
 * shimkit_arena_free). Its free does nothing: memory comes back on reset.
 */
SHIMKIT_API ProtobufCAllocator *shimkit_arena_allocator(shimkit_arena *arena);

/** Releases everything allocated from arena (keeps one block for reuse). Accepts NULL. */
SHIMKIT_API void shimkit_arena_reset(shimkit_arena *arena);

/** Frees arena and everything allocated from it. Accepts NULL. */
SHIMKIT_API void shimkit_arena_free(shimkit_arena *arena);

#ifdef __cplusplus
}
#endif
#endif /* SHIMKIT_ARENA_H */
