/*
 * reflection_fallback.c - the answers a reflection fallback fills
 * (shimkit/reflection.h) and where a server keeps its fallback.
 *
 * An answer is two bounded growable lists (service names, file blobs), all
 * copies, freed by reflection.c once the response is written.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "reflection.h"
#include "server_core.h"
#include "shimkit/reflection.h"

#define MAX_ENTRIES 4096
#define MAX_FILE_BYTES (64u * 1024u * 1024u)

shimkit_code shimkit_server_set_reflection_fallback(shimkit_server *srv,
                                                    const shimkit_reflection_fallback *fallback) {
  if (srv == NULL) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  if (srv->state != SHIMKIT__SERVER_NEW || srv->started) {
    return SHIMKIT_FAILED_PRECONDITION;
  }
  srv->has_refl_fallback = fallback != NULL;
  if (fallback != NULL) {
    srv->refl_fallback = *fallback;
  }
  return SHIMKIT_OK;
}

const shimkit_reflection_fallback *shimkit__server_reflection_fallback(const shimkit_server *srv) {
  return srv != NULL && srv->has_refl_fallback ? &srv->refl_fallback : NULL;
}

shimkit_reflection_answer *shimkit__refl_answer_new(void) {
  return calloc(1, sizeof(shimkit_reflection_answer));
}

void shimkit__refl_answer_free(shimkit_reflection_answer *a) {
  if (a == NULL) {
    return;
  }
  for (size_t i = 0; i < a->n_services; i++) {
    free(a->services[i]);
  }
  free(a->services);
  for (size_t i = 0; i < a->n_files; i++) {
    free(a->files[i].data);
  }
  free(a->files);
  free(a);
}

/* Room for one more entry in *v (n used, *cap allocated, size each); false when full or out of memory. */
static bool grow(void **v, size_t n, size_t *cap, size_t size) {
  if (n < *cap) {
    return true;
  }
  if (n >= MAX_ENTRIES) {
    return false;
  }
  size_t ncap = *cap == 0 ? 16 : *cap * 2;
  void *g = realloc(*v, ncap * size);
  if (g == NULL) {
    return false;
  }
  *v = g;
  *cap = ncap;
  return true;
}

int shimkit_reflection_answer_add_service(shimkit_reflection_answer *a, const char *name) {
  if (a == NULL || name == NULL ||
      !grow((void **)&a->services, a->n_services, &a->cap_services, sizeof(char *))) {
    return -1;
  }
  char *copy = strdup(name);
  if (copy == NULL) {
    return -1;
  }
  a->services[a->n_services++] = copy;
  return 0;
}

int shimkit_reflection_answer_add_file(shimkit_reflection_answer *a, const void *data, size_t len) {
  if (a == NULL || (data == NULL && len > 0) || len > MAX_FILE_BYTES - a->file_bytes ||
      !grow((void **)&a->files, a->n_files, &a->cap_files, sizeof(*a->files))) {
    return -1;
  }
  uint8_t *copy = malloc(len > 0 ? len : 1);
  if (copy == NULL) {
    return -1;
  }
  if (len > 0) {
    memcpy(copy, data, len);
  }
  a->files[a->n_files].data = copy;
  a->files[a->n_files].len = len;
  a->n_files++;
  a->file_bytes += len;
  return 0;
}
