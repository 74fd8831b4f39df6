/*
 * shimkit/status.h - the one status enum of shimkit.
 *
 * Every call in the public API that can fail returns a shimkit_code. The
 * numbers are the gRPC status codes (they travel on the wire unchanged), so
 * the mapping between shimkit and gRPC lives in exactly one place: here.
 * Numbers never change.
 */
#ifndef SHIMKIT_STATUS_H
#define SHIMKIT_STATUS_H

#include <stddef.h>

#include "shimkit/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro: name, number, short description. */
#define SHIMKIT_CODE_TABLE(X)                                                       \
  X(OK, 0, "ok")                                                                    \
  X(CANCELLED, 1, "the call was cancelled")                                         \
  X(UNKNOWN, 2, "unknown error")                                                    \
  X(INVALID_ARGUMENT, 3, "invalid argument")                                        \
  X(DEADLINE_EXCEEDED, 4, "deadline exceeded")                                      \
  X(NOT_FOUND, 5, "not found")                                                      \
  X(ALREADY_EXISTS, 6, "already exists")                                            \
  X(PERMISSION_DENIED, 7, "permission denied")                                      \
  X(RESOURCE_EXHAUSTED, 8, "resource exhausted")                                    \
  X(FAILED_PRECONDITION, 9, "failed precondition")                                  \
  X(ABORTED, 10, "aborted")                                                         \
  X(OUT_OF_RANGE, 11, "out of range")                                               \
  X(UNIMPLEMENTED, 12, "unimplemented")                                             \
  X(INTERNAL, 13, "internal error")                                                 \
  X(UNAVAILABLE, 14, "unavailable")                                                 \
  X(DATA_LOSS, 15, "data loss")                                                     \
  X(UNAUTHENTICATED, 16, "unauthenticated")

/** A status code; the value is the gRPC status code. */
typedef enum shimkit_code {
#define SHIMKIT__CODE_ENUM(name, num, desc) SHIMKIT_##name = num,
  SHIMKIT_CODE_TABLE(SHIMKIT__CODE_ENUM)
#undef SHIMKIT__CODE_ENUM
} shimkit_code;

/** "NOT_FOUND" for SHIMKIT_NOT_FOUND; "UNKNOWN_CODE" for a value outside the table. */
SHIMKIT_API const char *shimkit_code_name(shimkit_code code);

/** A short English description of the code ("not found"). Never NULL. */
SHIMKIT_API const char *shimkit_strerror(shimkit_code code);

/**
 * The status of a finished call, as a client sees it.
 * Owned by whoever declared it; release the strings with shimkit_status_clear().
 */
typedef struct shimkit_status {
  shimkit_code code;   /* status code from the server (or set locally) */
  char *message;       /* status message, NUL-terminated, heap; may be NULL */
  void *details;       /* binary details (grpc-status-details-bin), heap; may be NULL */
  size_t details_len;  /* length of details */
} shimkit_status;

/** Frees message and details and resets the status to OK. Accepts NULL. */
SHIMKIT_API void shimkit_status_clear(shimkit_status *status);

#ifdef __cplusplus
}
#endif
#endif /* SHIMKIT_STATUS_H */
