/*
 * hash_field.c - the router's glue for the hash-on-field policy: the key of
 * a call (router_field_key, called by forward.c with the first request
 * message, read before the pick), from the set's field cache
 * (field_route.h), which learns descriptors from a healthy replica of that
 * set (borrowed).
 */
#include <stdlib.h>
#include <string.h>

#include "field_route.h"
#include "router.h"

static shimkit_channel *source_get(void *ctx, void **token) {
  router_backend *b = router_borrow(ctx, NULL, 0);
  *token = b;
  return b != NULL ? b->channel : NULL;
}

static void source_done(void *ctx, void *token) {
  (void)ctx;
  router_give_back(token);
}

int router_field_key(router *r, const router_set *s, const char *method, const uint8_t *msg, size_t len,
                     char **key, size_t *key_len) {
  (void)r;
  *key = NULL;
  *key_len = 0;
  if (s->field_cache == NULL) {
    return 0;
  }
  router_field_source src = {source_get, source_done, (void *)s};
  router_field_value k;
  if (!router_field_message_key(s->field_cache, method, &src, msg, len, &k)) {
    return 0;
  }
  *key = malloc(k.len > 0 ? k.len : 1);
  if (*key == NULL) {
    return 0;
  }
  memcpy(*key, k.data, k.len);
  *key_len = k.len;
  return 1;
}
