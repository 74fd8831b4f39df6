/*
 * shimkit/metadata.h - an owned list of gRPC metadata (key, value) pairs.
 *
 * Used on the client side for request metadata and to receive response
 * initial and trailing metadata. Keys are lower-case ASCII; keys that end in
 * "-bin" carry binary values (base64 on the wire is handled by gRPC).
 * The list copies everything it is given: callers keep ownership of their
 * buffers.
 */
#ifndef SHIMKIT_METADATA_H
#define SHIMKIT_METADATA_H

#include <stddef.h>

#include "shimkit/export.h"
#include "shimkit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shimkit_metadata shimkit_metadata;

/** A new empty list, or NULL when out of memory. Free with shimkit_metadata_free(). */
SHIMKIT_API shimkit_metadata *shimkit_metadata_new(void);

/** Frees the list and every copy it holds. Accepts NULL. */
SHIMKIT_API void shimkit_metadata_free(shimkit_metadata *md);

/** Removes every entry (the list stays usable). Accepts NULL. */
SHIMKIT_API void shimkit_metadata_clear(shimkit_metadata *md);

/**
 * Appends a copy of key and of len bytes of value. A key may appear several
 * times. Returns SHIMKIT_INVALID_ARGUMENT for a key that is not a valid
 * gRPC header name, SHIMKIT_RESOURCE_EXHAUSTED when out of memory.
 */
SHIMKIT_API shimkit_code shimkit_metadata_add(shimkit_metadata *md, const char *key,
                                              const void *value, size_t len);

/** Same as shimkit_metadata_add() with a NUL-terminated value. */
SHIMKIT_API shimkit_code shimkit_metadata_add_string(shimkit_metadata *md, const char *key,
                                                     const char *value);

/** Number of entries. 0 for NULL. */
SHIMKIT_API size_t shimkit_metadata_count(const shimkit_metadata *md);

/**
 * Entry i (0-based). Pointers stay valid until the list is cleared or freed;
 * values are also NUL-terminated for convenience. Returns 0, or -1 when i is
 * out of range.
 */
SHIMKIT_API int shimkit_metadata_at(const shimkit_metadata *md, size_t i, const char **key,
                                    const char **value, size_t *len);

/** First value for key (NUL-terminated), or NULL. len may be NULL. */
SHIMKIT_API const char *shimkit_metadata_get(const shimkit_metadata *md, const char *key,
                                             size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* SHIMKIT_METADATA_H */
