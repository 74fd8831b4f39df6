/*
 * relay_internal.h - what the relay's files share (relay.h): connections,
 * calls, byte buffers and header lists.
 *
 * Everything here is touched by the relay's one thread only, except the
 * relay's atomics (the drain and stop requests, the count of live calls).
 */
#ifndef SHIMKIT_ROUTER_RELAY_INTERNAL_H
#define SHIMKIT_ROUTER_RELAY_INTERNAL_H

#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "relay.h"
#include "router.h"

/* ---- relay_buf.c: bytes on their way, and header lists ---------------------- */

/* Bytes received on one side, not yet handed to the other. With keep, the
 * bytes handed over stay (from the start) so that they can be sent again. */
typedef struct relay_buf {
  uint8_t *data;
  size_t len;  /* bytes held */
  size_t off;  /* of those, handed over */
  size_t cap;
  size_t base; /* bytes dropped before data[0] (the stream position of data[0]) */
} relay_buf;

/* Appends n bytes; 0, or -1 when out of memory. */
int relay_buf_append(relay_buf *b, const uint8_t *p, size_t n);
/* Copies up to max bytes from the hand-over point into out and moves it on;
 * without keep, bytes handed over are dropped. Returns the bytes copied. */
size_t relay_buf_take(relay_buf *b, uint8_t *out, size_t max, bool keep);
/* Drops the bytes handed over (what take without keep does). */
void relay_buf_drop_taken(relay_buf *b);
/* Frees the storage of an empty buffer (its position stays). */
void relay_buf_release_empty(relay_buf *b);
/* Bytes not yet handed over. */
size_t relay_buf_pending(const relay_buf *b);
/* Stream position of the hand-over point (bytes handed over since the start). */
size_t relay_buf_position(const relay_buf *b);
void relay_buf_free(relay_buf *b);

/* A header list in nghttp2's form. The names and values are copies, kept
 * NUL-terminated side by side in one block (text), so a list costs two
 * allocations however many headers it has. */
typedef struct relay_headers {
  nghttp2_nv *nv;
  size_t n, cap;
  uint8_t *text;
  size_t text_len, text_cap;
  size_t bytes; /* names and values, to bound a list */
} relay_headers;

/* Appends a copy of name: value; 0, or -1 when out of memory. */
int relay_headers_add(relay_headers *h, const uint8_t *name, size_t name_len, const uint8_t *value,
                      size_t value_len);
/* The value of the first header called name (lower case), or NULL; *len its length. */
const char *relay_headers_get(const relay_headers *h, const char *name, size_t *len);
void relay_headers_free(relay_headers *h);

/* grpc-timeout values: at most 8 digits and a unit (H M S m u n). */
#define RELAY_TIMEOUT_MAX_AMOUNT 99999999
#define RELAY_TIMEOUT_CAP 10 /* "99999999u" and its NUL */
/* The timeout a grpc-timeout value v (len bytes, no NUL needed) gives, in ns (INT64_MAX when it does not
 * fit), or -1 when v is not a valid value. */
int64_t relay_timeout_parse(const char *v, size_t len);
/* Writes ns (at least 1 ns is written) as a grpc-timeout value into out: the finest unit whose count fits
 * in 8 digits, rounded down. Returns its length, or 0 when cap is too small (RELAY_TIMEOUT_CAP is enough). */
size_t relay_timeout_format(int64_t ns, char *out, size_t cap);

/* ---- connections (relay_conn.c) ----------------------------------------------- */
/* Whatever a round submits on any session is written at the end of the round
 * (every connection's session is flushed then), so submitting needs no call. */

typedef struct relay_call relay_call;

typedef enum { RELAY_DOWN, RELAY_UP } relay_side; /* DOWN: a client's; UP: to a replica or the server */

/* A call's place in one connection's list of calls. */
typedef struct relay_link {
  relay_call *next, *prev;
} relay_link;

typedef struct relay_conn {
  struct relay *rl;
  relay_side side;
  bool internal;   /* UP to the router's own gRPC server */
  int fd;
  nghttp2_session *s;
  char name[112];  /* DOWN: the peer ("ipv4:127.0.0.1:4711"); UP: the address */
  bool connecting; /* UP: connect() not finished */
  int64_t connect_deadline_ms;
  bool goaway;     /* UP: the peer sent GOAWAY: no new streams */
  bool dead;       /* closed; freed after the current round */
  bool want_out;   /* EPOLLOUT is on */
  uint8_t *out;    /* bytes for the socket that did not fit */
  size_t out_len, out_off, out_cap;
  relay_call *calls; /* the calls with a stream on it (through each call's link[side]) */
  int64_t idle_since_ms;
  struct relay_conn *next; /* every connection */
} relay_conn;

/* An UP connection to address ("IP:PORT", "[IPv6]:PORT" or "unix:PATH") that can
 * take a new stream: an open one, or a new one (connecting). NULL when the
 * address is not numeric or no socket could be made. */
relay_conn *relay_conn_upstream(struct relay *rl, const char *address);
/* The UP connection to the router's server (a new one when the last went); NULL when none can be made. */
relay_conn *relay_conn_server(struct relay *rl);
/* Closes c now (its calls are told: relay_call_conn_lost); freed after the round. */
void relay_conn_close(relay_conn *c, const char *why);

/* ---- the relay (relay_conn.c) --------------------------------------------------- */

struct relay {
  router *r;
  int listen_fd;
  int epoll_fd;
  int wake_fd; /* eventfd: wakes the thread for stop and drain_asked */
  char dir[64];          /* private directory of the server socket */
  char server_addr[128]; /* "unix:<dir>/server.sock" */
  int grace_ms;
  size_t retry_buffer;   /* request bytes all calls together keep for a second attempt, at most */
  atomic_size_t kept_bytes; /* what they keep now (written by the relay's thread, read by /metrics) */
  atomic_uint_fast64_t direct_calls; /* calls sent straight to a replica (relay's thread; read by /metrics) */
  bool retry_buffer_full_logged; /* the warning that the buffer is full went out (again once it empties) */
  pthread_t thread;
  bool running;
  relay_conn *conns;
  relay_conn *server; /* the current UP connection to the server, or NULL */
  bool draining;      /* the server began its drain: no new connections or streams */
  int64_t drain_start_ms; /* when it began (read by relay_drain once draining_seen is true) */
  int64_t accept_paused_until_ms; /* accept() ran out of descriptors: the listener rests until then */
  bool closing;                   /* the thread's last writes: no new connection is made */
  atomic_int live_calls;          /* calls not yet freed; the drain waits for none */
  atomic_bool stop;               /* relay_drain / relay_free: finish the writes and return */
  atomic_bool drain_asked;        /* relay_drain: begin the drain if the server's GOAWAY was not seen */
  atomic_bool draining_seen;      /* the drain began (drain_start_ms is set) */
};

int64_t relay_now_ms(void);
/* The server began draining (it sent GOAWAY, or relay_drain was called): stop accepting, GOAWAY to clients. */
void relay_begin_drain(struct relay *rl);

/* ---- relay_h2.c: nghttp2 sessions ------------------------------------------------ */

/* A session for c (server side for DOWN, client side for UP), its SETTINGS submitted; 0, or -1. */
int relay_h2_session(relay_conn *c);

/* ---- relay_call.c: one call through the relay ------------------------------------ */

struct relay_call {
  struct relay *rl;
  relay_conn *down; /* NULL once its connection is gone */
  int32_t down_id;
  bool down_open;   /* its stream is open on down */
  relay_conn *up;   /* NULL before the first submit and once the connection is gone */
  int32_t up_id;
  bool up_open;
  bool up_sent;     /* the request's HEADERS went out on up */
  relay_link link[2]; /* its places in the calls lists of down (link[RELAY_DOWN]) and up (link[RELAY_UP]) */
  /* request */
  relay_headers req_h;
  relay_buf req;
  bool req_eof;
  bool keep_req;       /* the request bytes are kept (until the reply starts) so it can be sent again */
  size_t req_consumed; /* request bytes acknowledged to the client (flow control) */
  bool routed;         /* the request headers were seen and the call submitted */
  /* response */
  relay_headers resp_h;
  relay_headers trailers;
  relay_buf resp;
  bool resp_in;     /* the reply's headers arrived from up */
  bool answered;    /* a response was submitted on down */
  bool trailers_in; /* trailers (from up, or the relay's own) are ready to go after the data */
  bool resp_eof;    /* the reply's DATA ended without trailers */
  bool ended;       /* the call's end (END_STREAM) was submitted, or it was reset, on down */
  int status;       /* the grpc-status seen or made, -1 before */
  /* a call relayed straight to a replica (fast); else to the server */
  bool fast;
  router_config *cfg;
  router_set *set;
  router_backend *tried[ROUTER_MAX_ATTEMPTS];
  int n_tried;
  struct timespec ts0;
  int64_t deadline_ns; /* the client's deadline (CLOCK_MONOTONIC ns), read when routed; INT64_MAX: none */
};

/* A new call for the client's stream id on down (its request headers come next); NULL when out of memory. */
relay_call *relay_call_new(relay_conn *down, int32_t id);
/* The request's headers are complete: the call goes to a replica or to the server. */
void relay_call_route(relay_call *c);
void relay_call_request_data(relay_call *c, const uint8_t *p, size_t n);
void relay_call_request_end(relay_call *c);
/* The reply's headers (trailers_only: they end the call) and trailers from up. */
void relay_call_response_headers(relay_call *c, bool trailers_only);
void relay_call_response_data(relay_call *c, const uint8_t *p, size_t n);
void relay_call_response_end(relay_call *c, bool with_trailers);
/* The request's HEADERS went out on up. */
void relay_call_sent(relay_call *c);
/* Its stream on down (closed_down) or on up closed, with the HTTP/2 error code. */
void relay_call_closed(relay_call *c, relay_side side, uint32_t error_code);
/* The connection of its stream on side is gone (why: for the log and the status message). */
void relay_call_conn_lost(relay_call *c, relay_side side, const char *why);

#endif /* SHIMKIT_ROUTER_RELAY_INTERNAL_H */
