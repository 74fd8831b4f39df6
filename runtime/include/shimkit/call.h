/*
 * shimkit/call.h - what a handler can see and do during one server call.
 *
 * A shimkit_call lives from the moment a call reaches the server until its
 * status is sent. Handlers get it as their first argument; it is valid only
 * during the handler (and interceptors) and only on that thread.
 *
 * Memory: shimkit_call_alloc() hands out memory that lives until the call
 * ends, so a unary handler can point response fields at it without freeing
 * anything. Messages returned by shimkit_call_read() stay valid until the
 * next read on the same call or the end of the call.
 */
#ifndef SHIMKIT_CALL_H
#define SHIMKIT_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "shimkit/export.h"
#include "shimkit/service.h"
#include "shimkit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- what the call is ---------------------------------------------------- */

/** Full method path, "/pkg.Service/Method". Never NULL. */
SHIMKIT_API const char *shimkit_call_method(const shimkit_call *call);

/** The method's descriptor, or NULL for a method no service declares. */
SHIMKIT_API const shimkit_method_desc *shimkit_call_method_desc(const shimkit_call *call);

/** The client's address as gRPC reports it ("ipv4:127.0.0.1:5123"). Never NULL. */
SHIMKIT_API const char *shimkit_call_peer(const shimkit_call *call);

/**
 * The request message for unary and server-streaming calls (NULL for the
 * others, and before it was decoded). Interceptors use it to see requests.
 */
SHIMKIT_API const ProtobufCMessage *shimkit_call_request(const shimkit_call *call);

/* ---- deadline and cancellation ------------------------------------------- */

/**
 * Milliseconds until the client's deadline; INT64_MAX when the client set
 * none; 0 or less when it has passed.
 */
SHIMKIT_API int64_t shimkit_call_time_left_ms(const shimkit_call *call);

/**
 * True once the client went away, cancelled, the deadline passed, or the
 * server cancels calls at the end of its drain. Long handlers should poll it
 * and return SHIMKIT_CANCELLED.
 */
SHIMKIT_API bool shimkit_call_is_cancelled(shimkit_call *call);

/* ---- request metadata ----------------------------------------------------- */

/** Number of request metadata entries (initial metadata from the client). */
SHIMKIT_API size_t shimkit_call_metadata_count(const shimkit_call *call);

/** Entry i of the request metadata; pointers live as long as the call. 0 or -1. */
SHIMKIT_API int shimkit_call_metadata_at(const shimkit_call *call, size_t i, const char **key,
                                         const char **value, size_t *len);

/** First request metadata value for key (NUL-terminated copy owned by the call), or NULL. */
SHIMKIT_API const char *shimkit_call_metadata_get(const shimkit_call *call, const char *key,
                                                  size_t *len);

/* ---- response metadata ---------------------------------------------------- */

/**
 * Adds a header sent with the response's initial metadata. Only before the
 * first message is written (for unary calls: before the handler returns).
 * Copies key and value. SHIMKIT_FAILED_PRECONDITION once headers went out.
 */
SHIMKIT_API shimkit_code shimkit_call_add_initial_metadata(shimkit_call *call, const char *key,
                                                           const void *value, size_t len);

/** Adds a trailer sent with the status. Copies key and value. */
SHIMKIT_API shimkit_code shimkit_call_add_trailing_metadata(shimkit_call *call, const char *key,
                                                            const void *value, size_t len);

/* ---- status ---------------------------------------------------------------- */

/**
 * Sets the status message (printf-style) sent with a non-OK code and returns
 * code, so a handler can write: return shimkit_call_error(call, SHIMKIT_NOT_FOUND,
 * "no model %s", name);
 */
SHIMKIT_API shimkit_code shimkit_call_error(shimkit_call *call, shimkit_code code, const char *fmt,
                                            ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/** Attaches binary status details (google.rpc.Status bytes). Copies them. */
SHIMKIT_API shimkit_code shimkit_call_set_error_details(shimkit_call *call, const void *details,
                                                        size_t len);

/* ---- memory ---------------------------------------------------------------- */

/** size zeroed bytes that live until the call ends; NULL when out of memory. */
SHIMKIT_API void *shimkit_call_alloc(shimkit_call *call, size_t size);

/** A copy of s that lives until the call ends; NULL when out of memory. */
SHIMKIT_API char *shimkit_call_strdup(shimkit_call *call, const char *s);

/* ---- streams (generated code wraps these in typed helpers) ----------------- */

/**
 * Reads the next request message of a client- or bidi-streaming call.
 * Returns 1 and sets *message (owned by the call, valid until the next read),
 * 0 when the client has finished sending, or -1 when the call is cancelled,
 * broken, or the bytes do not decode (then the call ends INVALID_ARGUMENT
 * unless the handler returns another code).
 */
SHIMKIT_API int shimkit_call_read(shimkit_call *call, ProtobufCMessage **message);

/**
 * Sends one response message of a server- or bidi-streaming call; blocks until
 * gRPC took it. Returns 0, or -1 when the client is gone or the call is
 * cancelled (the handler should then return).
 */
SHIMKIT_API int shimkit_call_write(shimkit_call *call, const ProtobufCMessage *message);

#ifdef __cplusplus
}
#endif
#endif /* SHIMKIT_CALL_H */
