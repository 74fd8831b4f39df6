/*
 * shimkit/client.h - blocking gRPC client calls, used by generated stubs.
 *
 * A channel is a connection (pool) to one target; it is thread-safe and
 * should be reused. Unary calls are one function; streaming calls are a
 * shimkit_client_call handle: send, close the send side, receive, finish.
 *
 * Messages received are decoded with the call's allocator (opts->allocator)
 * or, without one, protobuf-c's default, and owned by the caller: free them
 * with protobuf_c_message_free_unpacked(msg, allocator). With an arena's
 * allocator (shimkit/arena.h) they are freed by resetting the arena instead,
 * which spares a malloc and a free per sub-message of a large response.
 */
#ifndef SHIMKIT_CLIENT_H
#define SHIMKIT_CLIENT_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "shimkit/export.h"
#include "shimkit/metadata.h"
#include "shimkit/service.h"
#include "shimkit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shimkit_channel shimkit_channel;
typedef struct shimkit_client_call shimkit_client_call;

/** TLS settings of a channel; file paths to PEM files. */
typedef struct shimkit_channel_tls {
  const char *ca_file;          /* CA to verify the server with (required) */
  const char *cert_file;        /* client certificate for mutual TLS, or NULL */
  const char *key_file;         /* its key, or NULL */
  const char *server_name;      /* override of the name checked in the certificate, or NULL */
} shimkit_channel_tls;

/**
 * A channel to target ("127.0.0.1:50051", "dns:///host:port", "unix:/path").
 * tls NULL = plaintext. max_receive_bytes 0 = 4 MiB. Connects lazily.
 * NULL when out of memory or a PEM file cannot be read (logged).
 */
SHIMKIT_API shimkit_channel *shimkit_channel_new(const char *target, const shimkit_channel_tls *tls,
                                                 int max_receive_bytes);

/** Closes and frees the channel. Accepts NULL. Calls on it must have ended. */
SHIMKIT_API void shimkit_channel_free(shimkit_channel *channel);

/** Per-call settings. Zero-initialise ({0}) for: no deadline, no metadata. */
typedef struct shimkit_call_options {
  int64_t timeout_ms;                /* deadline from now; 0 = none */
  const shimkit_metadata *metadata;  /* request metadata to send, or NULL */
  shimkit_metadata *initial_out;     /* receives response headers, or NULL */
  shimkit_metadata *trailing_out;    /* receives response trailers, or NULL */
  shimkit_status *status_out;        /* receives code, message and details, or NULL */
  ProtobufCAllocator *allocator;     /* decodes responses, e.g. shimkit_arena_allocator(); NULL = default */
} shimkit_call_options;

/**
 * One unary call. On SHIMKIT_OK *response is the decoded reply (caller frees
 * with protobuf_c_message_free_unpacked); otherwise *response is NULL and the
 * returned code is the call's status (details in opts->status_out).
 */
SHIMKIT_API shimkit_code shimkit_unary_call(shimkit_channel *channel,
                                            const shimkit_method_desc *method,
                                            const ProtobufCMessage *request,
                                            ProtobufCMessage **response,
                                            const shimkit_call_options *opts);

/**
 * Starts a streaming call of any kind. opts is copied except its out-pointers
 * and allocator, which must stay valid until shimkit_client_call_finish(). NULL when out of
 * memory.
 */
SHIMKIT_API shimkit_client_call *shimkit_client_call_start(shimkit_channel *channel,
                                                           const shimkit_method_desc *method,
                                                           const shimkit_call_options *opts);

/** Sends one message. 0, or -1 when the call has ended (finish to learn why). */
SHIMKIT_API int shimkit_client_call_send(shimkit_client_call *call, const ProtobufCMessage *message);

/** Tells the server this side will send no more. 0 or -1. */
SHIMKIT_API int shimkit_client_call_close_send(shimkit_client_call *call);

/**
 * Receives the next response message: 1 and *message (caller frees), 0 at the
 * end of the stream, -1 on error (finish to learn the status).
 */
SHIMKIT_API int shimkit_client_call_recv(shimkit_client_call *call, ProtobufCMessage **message);

/** shimkit_client_call_recv_poll()'s answer when no message has come yet. */
#define SHIMKIT_RECV_PENDING 2

/**
 * Like shimkit_client_call_recv(), without waiting: SHIMKIT_RECV_PENDING
 * when the next message has not come yet (the read stays in flight: call
 * again later; recv and finish take it over). For a thread that watches a
 * long-lived stream next to a busy server: a thread waiting inside gRPC
 * takes turns with the server's workers at polling the process's sockets,
 * and each turn costs a thread switch on every call the server handles.
 */
SHIMKIT_API int shimkit_client_call_recv_poll(shimkit_client_call *call, ProtobufCMessage **message);

/** Cancels the call (the server sees CANCELLED). Thread-safe. */
SHIMKIT_API void shimkit_client_call_cancel(shimkit_client_call *call);

/**
 * Waits for the status, fills the out-pointers of the options given at start,
 * and frees the call. Returns the status code. Accepts NULL (returns
 * SHIMKIT_INVALID_ARGUMENT).
 */
SHIMKIT_API shimkit_code shimkit_client_call_finish(shimkit_client_call *call);

#ifdef __cplusplus
}
#endif
#endif /* SHIMKIT_CLIENT_H */
