/*
 * field_key.c - the hash key of a call to a set that hashes on a request
 * field (spec.hash_field). Field extraction needs the request's message
 * type, learned from the replicas' own reflection (issue 5 §4); until that
 * lands here (fields*.c), there is no key and such calls go round robin.
 * forward.c already reads the first request message before picking, for
 * sets with a hash_field, and passes it in.
 */
#include "router.h"

int router_field_key(router *r, const router_set *s, const char *method, const uint8_t *msg, size_t len,
                     char **key, size_t *key_len) {
  (void)r;
  (void)s;
  (void)method;
  (void)msg;
  (void)len;
  *key = NULL;
  *key_len = 0;
  return 0;
}
