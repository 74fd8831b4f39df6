/*
 * field_route.h - the hash-on-field policy's per-call part: which field of
 * which request message, learned once per method, and the key of a call.
 *
 * For a set hashing on a field (hash_field) a call's replica depends on a
 * field of its first request message, so forward.c reads that message
 * BEFORE it picks, then sends it first; hash_field.c asks this module for
 * the message's key. The field path is resolved per method path the first
 * time a method is called, from the descriptors of a healthy replica's own
 * reflection service (descriptors.h), and cached in the set's cache: later
 * calls only walk the message bytes (field_key.h). When the lookup fails
 * (the replica has no reflection, the method's request has no such field)
 * or the field is not in a message, the call has no key and goes round
 * robin; each reason is logged once per method.
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

#endif /* SHIMKIT_ROUTER_FIELD_ROUTE_H */
