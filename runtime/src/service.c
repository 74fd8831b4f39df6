/*
 * service.c - method lookup in a generated service table.
 *
 * Generated tables list methods sorted by full path (strcmp order), so the
 * lookup on every call is a binary search with no allocation.
 */
#include <string.h>

#include "shimkit/service.h"

const shimkit_method_desc *shimkit_service_find_method(const shimkit_service_desc *svc, const char *path) {
  if (svc == NULL || path == NULL || svc->methods == NULL) {
    return NULL;
  }
  size_t lo = 0;
  size_t hi = svc->n_methods;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(path, svc->methods[mid].path);
    if (c == 0) {
      return &svc->methods[mid];
    }
    if (c < 0) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return NULL;
}
