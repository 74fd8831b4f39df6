/*
 * arena.c - per-call bump allocator (see arena.h for the why).
 *
 * Blocks are chained newest first. Requests larger than a quarter of the
 * default block get a block of their own, so one big string does not waste
 * the rest of a block. Allocations are aligned to max_align_t and zeroed
 * (shimkit_call_alloc promises zeroed memory; protobuf-c does not mind).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define BLOCK_SIZE 8192
#define ALIGN alignof(max_align_t)

struct shimkit__arena_block {
  shimkit__arena_block *next; /* older block */
  size_t size;                /* bytes of data[] */
  size_t pos;                 /* bytes of data[] handed out */
  alignas(max_align_t) unsigned char data[];
};

static void *pb_alloc(void *data, size_t size) {
  return shimkit__arena_alloc(data, size);
}

static void pb_free(void *data, void *ptr) {
  (void)data;
  (void)ptr; /* released with the arena */
}

void shimkit__arena_init(shimkit__arena *a, size_t limit) {
  a->head = NULL;
  a->used = 0;
  a->limit = limit;
  a->pb.alloc = pb_alloc;
  a->pb.free = pb_free;
  a->pb.allocator_data = a;
}

static shimkit__arena_block *new_block(shimkit__arena *a, size_t size) {
  size_t total = sizeof(shimkit__arena_block) + size;
  if (size > SIZE_MAX - sizeof(shimkit__arena_block) || a->used > a->limit || total > a->limit - a->used) {
    return NULL;
  }
  shimkit__arena_block *b = malloc(total);
  if (b == NULL) {
    return NULL;
  }
  b->size = size;
  b->pos = 0;
  a->used += total;
  return b;
}

void *shimkit__arena_alloc(shimkit__arena *a, size_t size) {
  if (size == 0) {
    size = 1; /* a unique pointer, like malloc(1) */
  }
  if (size > SIZE_MAX - ALIGN) {
    return NULL;
  }
  size_t rounded = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
  shimkit__arena_block *b = a->head;
  if (b == NULL || b->size - b->pos < rounded) {
    if (rounded > BLOCK_SIZE / 4) {
      /* A block of its own, linked behind the current one so its free space stays usable. */
      shimkit__arena_block *big = new_block(a, rounded);
      if (big == NULL) {
        return NULL;
      }
      big->pos = rounded;
      if (b == NULL) {
        big->next = NULL;
        a->head = big;
      } else {
        big->next = b->next;
        b->next = big;
      }
      memset(big->data, 0, size);
      return big->data;
    }
    b = new_block(a, BLOCK_SIZE);
    if (b == NULL) {
      return NULL;
    }
    b->next = a->head;
    a->head = b;
  }
  void *p = b->data + b->pos;
  b->pos += rounded;
  memset(p, 0, size);
  return p;
}

char *shimkit__arena_strndup(shimkit__arena *a, const char *s, size_t len) {
  if (len == SIZE_MAX) {
    return NULL;
  }
  char *p = shimkit__arena_alloc(a, len + 1);
  if (p != NULL) {
    if (len > 0) {
      memcpy(p, s, len);
    }
    p[len] = '\0';
  }
  return p;
}

void shimkit__arena_reset(shimkit__arena *a) {
  /* Keep the oldest standard block (the tail), free the rest. */
  shimkit__arena_block *keep = NULL;
  shimkit__arena_block *b = a->head;
  while (b != NULL) {
    shimkit__arena_block *next = b->next;
    if (keep == NULL && next == NULL && b->size == BLOCK_SIZE) {
      keep = b;
    } else {
      free(b);
    }
    b = next;
  }
  a->head = keep;
  a->used = 0;
  if (keep != NULL) {
    keep->pos = 0;
    keep->next = NULL;
    a->used = sizeof(shimkit__arena_block) + keep->size;
  }
}

void shimkit__arena_destroy(shimkit__arena *a) {
  if (a == NULL) {
    return;
  }
  shimkit__arena_block *b = a->head;
  while (b != NULL) {
    shimkit__arena_block *next = b->next;
    free(b);
    b = next;
  }
  a->head = NULL;
  a->used = 0;
}

ProtobufCAllocator *shimkit__arena_allocator(shimkit__arena *a) {
  return &a->pb;
}
