/*
 * metadata_internal.h - header name and value rules shared by the list
 * (metadata.c), the server's response metadata (call.c) and the client.
 *
 * gRPC core refuses a whole batch when one header is illegal, which would
 * turn a typo in a handler into a call that never answers; so every key and
 * value is checked here, when it is added, and refused with a clear code.
 */
#ifndef SHIMKIT_METADATA_INTERNAL_H
#define SHIMKIT_METADATA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* Longest key accepted; HTTP/2 has no limit, gRPC's default header list limit is 8 KiB. */
#define SHIMKIT__METADATA_KEY_MAX 256
/* Longest value accepted (core's default limit on all metadata is 8 KiB; this is a backstop). */
#define SHIMKIT__METADATA_VALUE_MAX (64 * 1024)
/* Most entries one list holds. */
#define SHIMKIT__METADATA_MAX_ENTRIES 1024

/* A legal gRPC header name: 1..KEY_MAX chars of [0-9a-z_.-], not starting with ':' */
bool shimkit__metadata_key_valid(const char *key);

/* Keys a handler must not set: pseudo-headers and "grpc-" (owned by gRPC itself). */
bool shimkit__metadata_key_reserved(const char *key);

/* A legal value for key: any bytes for "-bin" keys, printable ASCII otherwise. */
bool shimkit__metadata_value_valid(const char *key, const void *value, size_t len);

#endif /* SHIMKIT_METADATA_INTERNAL_H */
