/*
 * shimkit/server.h - a gRPC server that dispatches to generated handler tables.
 *
 * Life cycle:
 *   shimkit_server_options opts; shimkit_server_options_init(&opts);
 *   shimkit_server *srv = shimkit_server_new(&opts);
 *   shimkit_server_add_listener(srv, "127.0.0.1:50051", NULL, &port);
 *   pkg__svc__shimkit_register(srv, &handlers, my_state);   (generated)
 *   shimkit_server_start(srv);
 *   shimkit_server_wait(srv);     blocks until SIGTERM/SIGINT or shutdown, then drains
 *   shimkit_server_free(srv);
 *
 * Health (grpc.health.v1) and reflection (v1 and v1alpha) are registered by
 * shimkit_server_new unless disabled in the options.
 */
#ifndef SHIMKIT_SERVER_H
#define SHIMKIT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shimkit/call.h"
#include "shimkit/export.h"
#include "shimkit/service.h"
#include "shimkit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shimkit_server shimkit_server;

/** Server settings. Fill with shimkit_server_options_init(), then change fields. */
typedef struct shimkit_server_options {
  int worker_threads;          /* most threads running handlers at once; started on demand, surplus
                                  idle ones exit; at the limit new calls wait (default 64) */
  int max_receive_bytes;       /* largest request message accepted (default 4 MiB) */
  int max_send_bytes;          /* largest response message sent (default 4 MiB) */
  int drain_grace_ms;          /* on shutdown, how long in-flight calls may finish (default 10000) */
  bool handle_signals;         /* shimkit_server_wait() returns on SIGTERM/SIGINT (default true) */
  bool enable_health;          /* serve grpc.health.v1.Health (default true) */
  bool enable_reflection;      /* serve grpc reflection v1 + v1alpha (default true) */
  bool access_log;             /* one JSON line per call on stderr (default true) */
  int drain_delay_ms;          /* on shutdown, how long health reads NOT_SERVING while new calls are
                                  still served, before the drain refuses them: time for a router or
                                  load balancer watching health to stop sending (default 0) */
} shimkit_server_options;

/** Fills opts with the defaults listed above. */
SHIMKIT_API void shimkit_server_options_init(shimkit_server_options *opts);

/** TLS settings of a listener; file paths to PEM files. */
typedef struct shimkit_tls_options {
  const char *cert_file;        /* server certificate chain (required) */
  const char *key_file;         /* its private key (required) */
  const char *client_ca_file;   /* CA that signs client certificates; NULL = no client auth */
  bool require_client_cert;     /* mutual TLS: reject clients without a valid certificate */
} shimkit_tls_options;

/**
 * A new, stopped server, or NULL when out of memory or the options are
 * invalid (a log line says which). opts may be NULL for the defaults.
 */
SHIMKIT_API shimkit_server *shimkit_server_new(const shimkit_server_options *opts);

/**
 * Listens on address ("127.0.0.1:50051", "[::1]:0", "unix:/path"); port 0
 * picks a free port, written to *bound_port when it is not NULL. tls NULL =
 * plaintext. Before shimkit_server_start() only. Returns SHIMKIT_UNAVAILABLE
 * when the address cannot be bound, SHIMKIT_INVALID_ARGUMENT for unreadable
 * PEM files.
 */
SHIMKIT_API shimkit_code shimkit_server_add_listener(shimkit_server *srv, const char *address,
                                                     const shimkit_tls_options *tls,
                                                     int *bound_port);

/**
 * For a server reached only through a front in the same process: a proxy
 * (such as shimkit_router's relay) that listens on the public address and
 * passes calls on over a unix socket only it can reach. The front names each
 * call's client in the request metadata entry key (lower case: a-z 0-9 - _ .,
 * not grpc-*, not -bin; at most 63 bytes), and removes any entry of that key
 * a client sent itself. A call that arrives over a unix socket with the
 * entry takes its value as its peer (shimkit_call_peer(), the access log);
 * calls from anywhere else keep their own. The entry is taken out of every
 * call's metadata: handlers and forwarding never see it. Do not use it on a
 * server whose unix listener clients can reach directly: they could name any
 * peer. key is copied. Before shimkit_server_start() only:
 * SHIMKIT_FAILED_PRECONDITION after; SHIMKIT_INVALID_ARGUMENT for a bad key.
 */
SHIMKIT_API shimkit_code shimkit_server_set_front_peer_key(shimkit_server *srv, const char *key);

/**
 * Binds an implementation of a service: handlers points to the generated
 * typed table (kept by pointer: it must outlive the server), user_data is
 * passed to every handler. Several services may be added; a service name
 * may be added once. Generated pkg__svc__shimkit_register() calls this.
 * Before shimkit_server_start() only. SHIMKIT_ALREADY_EXISTS for a second
 * implementation of the same service name, SHIMKIT_FAILED_PRECONDITION for a
 * table from a generator of another ABI version.
 */
SHIMKIT_API shimkit_code shimkit_server_add_service(shimkit_server *srv,
                                                    const shimkit_service_desc *service,
                                                    const void *handlers, void *user_data);

/**
 * Interceptors wrap every handler call, in the order added (the first added
 * is outermost). An interceptor sees the call (method, metadata, request via
 * shimkit_call_request()), calls shimkit_next(next) to run the rest of the
 * chain and the handler, and returns the status (it may return early to
 * refuse a call, e.g. SHIMKIT_UNAUTHENTICATED).
 */
typedef struct shimkit_next shimkit_next;
typedef shimkit_code (*shimkit_interceptor_fn)(shimkit_call *call, shimkit_next *next,
                                               void *user_data);

/** Runs the rest of the chain; returns the handler's status. */
SHIMKIT_API shimkit_code shimkit_next_call(shimkit_next *next);

/** Adds an interceptor. Before shimkit_server_start() only. */
SHIMKIT_API shimkit_code shimkit_server_add_interceptor(shimkit_server *srv,
                                                        shimkit_interceptor_fn fn,
                                                        void *user_data);

/** Starts listening and serving. Returns SHIMKIT_OK or the reason it cannot. */
SHIMKIT_API shimkit_code shimkit_server_start(shimkit_server *srv);

/**
 * Blocks until a shutdown was asked for (SIGTERM/SIGINT when handle_signals,
 * or shimkit_server_shutdown() from another thread), then drains: health goes
 * NOT_SERVING (new calls are still served for drain_delay_ms), no new calls
 * are accepted, in-flight calls get drain_grace_ms to finish, the rest are
 * cancelled. Returns when every worker stopped.
 */
SHIMKIT_API void shimkit_server_wait(shimkit_server *srv);

/** Asks the server to drain and stop; returns at once. Thread-safe, idempotent. */
SHIMKIT_API void shimkit_server_shutdown(shimkit_server *srv);

/** Stops (if running) and frees the server. Accepts NULL. */
SHIMKIT_API void shimkit_server_free(shimkit_server *srv);

/* ---- health ---------------------------------------------------------------- */

typedef enum shimkit_health_status {
  SHIMKIT_HEALTH_UNKNOWN = 0,
  SHIMKIT_HEALTH_SERVING = 1,
  SHIMKIT_HEALTH_NOT_SERVING = 2
} shimkit_health_status;

/**
 * Sets the health of a service name ("" = the whole server); Watch streams
 * see the change at once. Added services start SERVING when the server
 * starts. Thread-safe.
 */
SHIMKIT_API shimkit_code shimkit_server_set_health(shimkit_server *srv, const char *service,
                                                   shimkit_health_status status);

#ifdef __cplusplus
}
#endif
#endif /* SHIMKIT_SERVER_H */
