/*
 * field_route.h - the hash-on-field policy's per-call part: which field of
 * which request message, learned once per method, and the key of a call.
 *
 * For `--policy hash --hash-field PATH` a call's replica depends on a field
 * of its first request message, so forward.c reads that message BEFORE it
 * picks (router_field_prefetch), then sends it first. The field path is
 * resolved per method path the first time a method is called, from the
 * descriptors of a healthy replica's own reflection service
 * (descriptors.h), and cached: later calls only walk the message bytes
 * (field_key.h). When the lookup fails (the replica has no reflection, the
 * method's request has no such field) or the field is not in a message, the
 * call has no key and goes round robin; each reason is logged once per
 * method.
 */
#ifndef SHIMKIT_ROUTER_FIELD_ROUTE_H
#define SHIMKIT_ROUTER_FIELD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shimkit/shimkit.h>

#include "field_key.h"

#define ROUTER_FIELD_CACHE_MAX 1024 /* methods remembered; past it, calls of new methods go round robin */
#define ROUTER_FIELD_LOOKUP_MS 3000 /* one reflection lookup, at most */
#define ROUTER_FIELD_RETRY_MS 10000 /* a lookup that failed on the way (not a "no") is tried again after */

typedef struct router_field_cache router_field_cache;

/* Asks for a healthy replica's channel to learn descriptors from: NULL when there is none. done() is called
 * after. */
typedef struct router_field_source {
  shimkit_channel *(*get)(void *ctx, void **token);
  void (*done)(void *ctx, void *token);
  void *ctx;
} router_field_source;

/* A cache for field_path ("key.entity_id"), copied, with one reference. NULL when out of memory or the path
 * is empty. */
router_field_cache *router_field_cache_new(const char *field_path);

/* Another reference (a new snapshot of an unchanged set keeps its cache); returns c. */
router_field_cache *router_field_cache_ref(router_field_cache *c);

/* Drops a reference; the last one frees the cache. Accepts NULL. */
void router_field_cache_unref(router_field_cache *c);

/* Forgets every method (the set's replicas changed). */
void router_field_cache_clear(router_field_cache *c);

/* The field path the cache resolves. */
const char *router_field_cache_field(const router_field_cache *c);

/*
 * The resolved path of method's request field: true with *out; false when
 * it cannot be known (logged once per method). Learns it from src the first
 * time; concurrent first calls wait for one lookup.
 */
bool router_field_cache_path(router_field_cache *c, const char *method, const router_field_source *src,
                             router_field_path *out);

/*
 * The key of one request message msg (len bytes) of method: true with *key
 * (pointing into msg); false when it has none (lookup failed, field absent,
 * bytes that do not parse), logged once per method and reason.
 */
bool router_field_message_key(router_field_cache *c, const char *method, const router_field_source *src,
                              const uint8_t *msg, size_t len, router_field_value *key);

/* The first request message of a call, read before the replica is picked. */
typedef struct router_first_message {
  int rc; /* shimkit_call_read_bytes' result: 1 a message, 0 the client sent none, -1 the call is over */
  uint8_t *data; /* the message (rc 1), malloc'd; forward.c hands it on and frees it */
  size_t len;
  router_field_value key; /* the key found in it (points into data) */
  bool has_key;           /* key is valid */
} router_first_message;

/*
 * Reads the call's first request message into first and finds its key
 * (first->has_key). Logs once per method why a call has no key.
 */
void router_field_prefetch(router_field_cache *c, shimkit_call *call, const router_field_source *src,
                           router_first_message *first);

#endif /* SHIMKIT_ROUTER_FIELD_ROUTE_H */
