/*
 * relay.h - the router's front: an HTTP/2 relay on the router's public
 * address, in front of the router's gRPC server.
 *
 * Why it exists: a call forwarded through gRPC core costs the router a
 * server call plus a client call, several times what a replica spends on the
 * whole call (bench/results/router.md). The relay moves the common case —
 * a unary call to a set that picks by round robin, least outstanding or a
 * metadata hash — at the HTTP/2 frame level (nghttp2): the request's
 * headers and DATA bytes go unchanged to the replica the router's own
 * policy picks (router_pick), the reply's headers, DATA and trailers come
 * back unchanged. Everything else (streams, the router's own services,
 * hashing on a request field, held services, a method not yet known to be
 * unary, a replica no fast attempt reached) is relayed to the router's gRPC
 * server on a private unix socket, which does what it always did.
 *
 * One thread runs every connection (epoll). See docs/router.md.
 */
#ifndef SHIMKIT_ROUTER_RELAY_H
#define SHIMKIT_ROUTER_RELAY_H

#include <stdbool.h>
#include <stddef.h>

struct router;
typedef struct relay relay;

/* Whether the relay can serve listen: a numeric "IP:PORT" or "[IPv6]:PORT" (else gRPC core serves it). */
bool relay_can_front(const char *listen);

/*
 * Binds listen ("IP:PORT" or "[IPv6]:PORT"; port 0 = any free port) and
 * makes a private directory for the router's server socket. *port gets the
 * bound port. NULL on failure, with the reason in err.
 */
relay *relay_bind(struct router *r, const char *listen, int grace_ms, int *port, char *err, size_t cap);

/* The request header in which the relay names a call's client (its address, as
 * "ipv4:127.0.0.1:4711") to the router's server (shimkit_server_set_front_peer_key):
 * the relay removes any a client sent, on every call, and adds its own to
 * calls it sends to the server. */
#define RELAY_PEER_HEADER "shimkit-relay-peer"

/* The address the router's gRPC server listens on: "unix:/tmp/.../server.sock". */
const char *relay_server_address(const relay *rl);

/* Request bytes the relay keeps at most, all calls together, to send a
 * refused call to another replica (default RELAY_RETRY_BUFFER_DEFAULT).
 * Before relay_start. */
#define RELAY_RETRY_BUFFER_DEFAULT ((size_t)64 << 20)
void relay_set_retry_buffer(relay *rl, size_t bytes);

/* A shimkit_metrics_collector_fn (shimkit/metrics.h) for relay_ptr: the
 * retry buffer's use and size, as Prometheus gauges. Any thread. */
size_t relay_metrics(char *buf, size_t cap, void *relay_ptr);

/* Starts the relay's thread (the server is started): it accepts from now on. 0, or -1 (logged). */
int relay_start(relay *rl);

/*
 * The server drained: waits until the relay's own calls have ended or the
 * drain grace (counted from the drain's start) is over, then stops the
 * thread and closes every connection.
 */
void relay_drain(relay *rl);

/* Frees rl (stopping it first if needed) and removes the socket directory. Accepts NULL. */
void relay_free(relay *rl);

#endif /* SHIMKIT_ROUTER_RELAY_H */
