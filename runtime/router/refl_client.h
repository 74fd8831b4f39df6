/*
 * refl_client.h - the router asking a replica's reflection service.
 *
 * Used to learn request descriptors (hash-on-field, descriptors.c) and to
 * answer reflection for the replicas' services (reflect.c). One stream per
 * conversation: open, ask (one request, one response, as many times as
 * needed), close. The stream is a raw call carrying v1 messages; when the
 * replica does not serve grpc.reflection.v1 (UNIMPLEMENTED before any
 * answer) the same bytes go to v1alpha, which is wire-identical.
 */
#ifndef SHIMKIT_ROUTER_REFL_CLIENT_H
#define SHIMKIT_ROUTER_REFL_CLIENT_H

#include <stdint.h>

#include <shimkit/client.h>

#include "grpc/reflection/v1/reflection.pb-c.h"

typedef struct router_refl_client router_refl_client;

/* A conversation with the reflection service at channel, over in timeout_ms at most; NULL when out of memory.
 */
router_refl_client *router_refl_open(shimkit_channel *channel, int64_t timeout_ms);

/*
 * Sends req and returns the replica's response (the caller frees it with
 * grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL)),
 * or NULL when the stream failed (no reflection, timeout, bad bytes); then
 * err (errlen bytes) says why and the conversation is over.
 */
Grpc__Reflection__V1__ServerReflectionResponse *
router_refl_ask(router_refl_client *c, const Grpc__Reflection__V1__ServerReflectionRequest *req, char *err,
                size_t errlen);

/* Ends the conversation and frees it. Accepts NULL. */
void router_refl_close(router_refl_client *c);

#endif /* SHIMKIT_ROUTER_REFL_CLIENT_H */
