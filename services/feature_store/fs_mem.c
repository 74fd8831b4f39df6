/*
 * fs_mem.c - see fs_mem.h. Blocks of at least FS_MEM_BLOCK bytes, larger ones
 * for large requests; a reset frees them all (results of a page are small).
 */
#include "fs_mem.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define FS_MEM_BLOCK (16 * 1024)

struct fs_mem_block {
  fs_mem_block *next; /* older block */
  size_t size;        /* bytes of data[] */
  size_t off;         /* bytes of data[] handed out */
  alignas(max_align_t) unsigned char data[];
};

void fs_mem_init(fs_mem *mem, size_t limit) {
  mem->blocks = NULL;
  mem->used = 0;
  mem->limit = limit;
  mem->ext_alloc = NULL;
  mem->ext_ctx = NULL;
}

void fs_mem_init_external(fs_mem *mem, size_t limit, void *(*alloc)(void *ctx, size_t size), void *ctx) {
  fs_mem_init(mem, limit);
  mem->ext_alloc = alloc;
  mem->ext_ctx = ctx;
}

void *fs_mem_alloc(fs_mem *mem, size_t size) {
  const size_t align = alignof(max_align_t);
  if (size == 0) size = 1;
  if (mem->used > mem->limit || size > mem->limit - mem->used) return NULL;
  size_t rounded = (size + align - 1) / align * align;
  if (mem->ext_alloc) {
    void *p = mem->ext_alloc(mem->ext_ctx, size);
    if (p) mem->used += rounded;
    return p;
  }
  fs_mem_block *b = mem->blocks;
  if (!b || b->size - b->off < rounded) {
    size_t bsize = rounded > FS_MEM_BLOCK ? rounded : FS_MEM_BLOCK;
    b = malloc(sizeof *b + bsize);
    if (!b) return NULL;
    b->next = mem->blocks;
    b->size = bsize;
    b->off = 0;
    mem->blocks = b;
  }
  void *p = b->data + b->off;
  b->off += rounded;
  mem->used += rounded;
  memset(p, 0, size);
  return p;
}

char *fs_mem_strndup(fs_mem *mem, const char *s, size_t len) {
  char *p = fs_mem_alloc(mem, len + 1);
  if (!p) return NULL;
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

char *fs_mem_strdup(fs_mem *mem, const char *s) { return fs_mem_strndup(mem, s, strlen(s)); }

void fs_mem_reset(fs_mem *mem) {
  fs_mem_block *b = mem->blocks;
  while (b) {
    fs_mem_block *next = b->next;
    free(b);
    b = next;
  }
  mem->blocks = NULL;
  mem->used = 0;
}

void fs_mem_free(fs_mem *mem) {
  if (mem) fs_mem_reset(mem);
}
