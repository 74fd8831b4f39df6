/*
 * hash_field.c - the router's glue for the hash-on-field policy: the
 * replica the descriptors are learned from (a healthy one, borrowed) and
 * the first-message read forward.c does before it picks (field_route.h).
 */
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

void router_hash_field_first(router *r, shimkit_call *call, router_first_message *first) {
  router_field_source src = {source_get, source_done, r};
  router_field_prefetch(r->field_cache, call, &src, first);
}
