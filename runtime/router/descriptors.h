/*
 * descriptors.h - protobuf descriptors learned from a replica, and field
 * paths resolved with them (the hash-on-field policy).
 *
 * A pool holds decoded FileDescriptorProtos (serialized ones, as a
 * reflection service sends them). The router fills it from a replica's
 * reflection (router_desc_fetch: file_containing_symbol for the method's
 * service, then file_by_filename for any dependency still missing), then
 * resolves "/pkg.Svc/Method" + "key.entity_id" into field numbers and types
 * (field_key.h). Descriptor bytes come from the network: they are decoded
 * by protobuf-c, every pointer in them is checked, the pool is bounded
 * (ROUTER_DESC_MAX_FILES files, ROUTER_DESC_MAX_BYTES bytes) and message
 * nesting is walked at most ROUTER_DESC_MAX_NESTING deep.
 */
#ifndef SHIMKIT_ROUTER_DESCRIPTORS_H
#define SHIMKIT_ROUTER_DESCRIPTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shimkit/client.h>

#include "field_key.h"

#define ROUTER_DESC_MAX_FILES 256
#define ROUTER_DESC_MAX_BYTES (16 * 1024 * 1024)
#define ROUTER_DESC_MAX_NESTING 32

typedef struct router_desc_pool router_desc_pool;

/* An empty pool; NULL when out of memory. */
router_desc_pool *router_desc_pool_new(void);

/* Frees the pool and every file in it. Accepts NULL. */
void router_desc_pool_free(router_desc_pool *pool);

/*
 * Adds one serialized FileDescriptorProto (copied as decoded). 1: added; 0:
 * a file of that name is already there (kept, this one ignored); -1: it does
 * not decode, has no name, or the pool is full.
 */
int router_desc_pool_add(router_desc_pool *pool, const uint8_t *data, size_t len);

/* Number of files in the pool. */
size_t router_desc_pool_count(const router_desc_pool *pool);

/* A dependency of a pool file that is not in the pool, or NULL (owned by the pool). */
const char *router_desc_pool_missing(const router_desc_pool *pool);

/*
 * Resolves field_path (field names joined by '.', "key.entity_id") in the
 * request message of method_path ("/pkg.Svc/Method"). 0 with *out filled;
 * -1 with a one-line reason in err (errlen bytes) when the service, method,
 * a message type or a field is not in the pool, a step before the last is
 * not a message, or the last one is a message or group.
 */
int router_desc_resolve(const router_desc_pool *pool, const char *method_path, const char *field_path,
                        router_field_path *out, char *err, size_t errlen);

/*
 * Whether method_path ("/pkg.Svc/Method") streams its requests and its
 * responses, from its descriptor: 0 with both filled; -1 when the service
 * or the method is not in the pool.
 */
int router_desc_method_streams(const router_desc_pool *pool, const char *method_path, bool *client_streaming,
                               bool *server_streaming);

/*
 * Fills pool from the reflection service at channel (v1, else v1alpha): the
 * file declaring the service of method_path and its dependencies. timeout_ms
 * bounds the whole exchange. 0; 1 when the replica answered that it does
 * not know the service; -1 when the exchange failed (no reflection service,
 * timeout, bad answer). On 1 and -1 err says why.
 */
int router_desc_fetch(shimkit_channel *channel, const char *method_path, router_desc_pool *pool,
                      int64_t timeout_ms, char *err, size_t errlen);

#endif /* SHIMKIT_ROUTER_DESCRIPTORS_H */
