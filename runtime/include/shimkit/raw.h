/*
 * shimkit/raw.h - calls as bytes: forwarding without knowing the messages.
 *
 * A proxy (the router) must pass calls through without decoding them. This
 * is the small API for that, on both sides:
 *
 * Server: shimkit_server_set_raw_handler() installs one catch-all handler
 * that receives every call to a method no added service declares (the
 * server's own services, health and reflection included, still answer
 * theirs). It reads request messages as bytes and writes response messages
 * as bytes; request metadata, deadline, response headers, trailers and
 * status use the ordinary shimkit_call functions (call.h). Interceptors do
 * not run for raw calls.
 *
 * Threads: a raw handler may read on one thread while it writes on another
 * (bidi forwarding); at most one read, one write and one wait_cancelled in
 * flight at a time. Every thread must be done with the call before the
 * handler returns. shimkit_call_send_status() ends the call early, which
 * wakes a reader blocked in shimkit_call_read_bytes().
 *
 * Client: shimkit_client_call_start_raw() starts a call by method path; the
 * _bytes functions send and receive message bytes; shimkit_client_call_headers()
 * waits for the response headers. The rest (close_send, cancel, finish) is
 * client.h's.
 */
#ifndef SHIMKIT_RAW_H
#define SHIMKIT_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shimkit/client.h"
#include "shimkit/export.h"
#include "shimkit/metadata.h"
#include "shimkit/service.h"
#include "shimkit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shimkit_server shimkit_server;

/* ---- server side ------------------------------------------------------------ */

/** A catch-all handler: returns the call's status (like any handler). */
typedef shimkit_code (*shimkit_raw_handler_fn)(shimkit_call *call, void *user_data);

/**
 * Installs the catch-all handler (one per server; a later one replaces it).
 * Before shimkit_server_start() only: SHIMKIT_FAILED_PRECONDITION after.
 */
SHIMKIT_API shimkit_code shimkit_server_set_raw_handler(shimkit_server *srv, shimkit_raw_handler_fn fn,
                                                        void *user_data);

/**
 * Reads the next request message of a raw call: 1 with *data (malloc'd,
 * the caller frees it) and *len; 0 when the client finished sending; -1 when
 * the call is over (cancelled, broken, or its status was sent) or the message
 * is over the server's max_receive_bytes. On 0 and -1 *data is NULL.
 */
SHIMKIT_API int shimkit_call_read_bytes(shimkit_call *call, uint8_t **data, size_t *len);

/**
 * Sends one response message of a raw call (with the response headers first,
 * if they have not gone out). Copies data. 0, or -1 when the call is over or
 * len is over max_send_bytes.
 */
SHIMKIT_API int shimkit_call_write_bytes(shimkit_call *call, const void *data, size_t len);

/**
 * Sends the status now (code, with the message, details and trailers set on
 * the call), instead of when the handler returns; the handler then returns
 * the same code. Wakes a blocked shimkit_call_read_bytes(). 0 or -1.
 */
SHIMKIT_API int shimkit_call_send_status(shimkit_call *call, shimkit_code code);

/**
 * Waits up to timeout_ms for the client to go away (cancel, deadline,
 * connection lost). true when it did, false on timeout. Not for unary
 * handlers of generated services.
 */
SHIMKIT_API bool shimkit_call_wait_cancelled(shimkit_call *call, int timeout_ms);

/* ---- client side ------------------------------------------------------------ */

/**
 * Starts a call of any kind to the method path ("/pkg.Service/Method"), with
 * messages as bytes. Like shimkit_client_call_start(): opts is copied except
 * its out-pointers. NULL when out of memory or path is not a method path.
 */
SHIMKIT_API shimkit_client_call *shimkit_client_call_start_raw(shimkit_channel *channel, const char *path,
                                                               const shimkit_call_options *opts);

/** Sends one message (copies data). 0, or -1 when the call has ended. */
SHIMKIT_API int shimkit_client_call_send_bytes(shimkit_client_call *call, const void *data, size_t len);

/**
 * Receives the next response message: 1 with *data (malloc'd, the caller
 * frees it) and *len, 0 at a clean end of the stream, -1 on error (finish to
 * learn the status).
 */
SHIMKIT_API int shimkit_client_call_recv_bytes(shimkit_client_call *call, uint8_t **data, size_t *len);

/**
 * Waits for the response headers and copies them into out (cleared first;
 * may be NULL). 0, or -1 when the call ended without them or failed; a
 * trailers-only response reads as 0 with no entries. Call it before the
 * first recv, from the receiving thread.
 */
SHIMKIT_API int shimkit_client_call_headers(shimkit_client_call *call, shimkit_metadata *out);

#ifdef __cplusplus
}
#endif
#endif /* SHIMKIT_RAW_H */
