/*
 * relay_call.c - one call through the relay (relay.h): where it goes, how
 * its bytes move, and how it ends.
 *
 * route: a call goes straight to a replica ("fast") when its method is
 * known to be unary (method_kind.h), is not one of the router's own
 * services, its service is not held, and its sets do not hash on a request
 * field; the set and the replica are chosen exactly as the router's server
 * chooses them (router_choose_set, router_pick, with the hash_key metadata
 * value). Every other call goes to the router's gRPC server, unchanged.
 *
 * A fast call's request bytes are kept until the replica's reply starts.
 * When its stream is refused, or its connection never reached the replica
 * (connect failed: no handler ran), the call is sent again to another
 * replica of the set, as the router's server retries (forward.c); when no
 * other replica can take it, it goes to the router's server, which answers
 * as it always does. A fast call whose replica was reached but ended without
 * a status (its connection broke: the replica was killed) fails UNAVAILABLE;
 * it may have run, so it is not sent again. Keeping has two bounds:
 * RELAY_KEEP_MAX bytes per call, and the relay's retry buffer
 * (--retry-buffer-mib) for all calls together; a call past either stops
 * keeping, and when refused it is refused to its client, whose gRPC
 * library sends it again.
 *
 * Each fast call counts in its replica's metrics (router_pick /
 * router_release) and writes the router's access-log line (forward.c's
 * format). A call's memory goes when both its streams are closed.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "method_kind.h"
#include "relay_internal.h"

#define RELAY_KEEP_MAX (4 << 20) /* request bytes kept for a second attempt, at most */
#define RELAY_SUBMIT_NV 32       /* request headers submit() copies on the stack (more: on the heap) */
#define RELAY_LAST_STREAM_ID ((1u << 31) - (1u << 20)) /* a connection to a replica is retired past it */

/* Puts c on conn's list of calls (its link for conn's side). */
static void list_add(relay_conn *conn, relay_call *c) {
  relay_link *l = &c->link[conn->side];
  l->prev = NULL;
  l->next = conn->calls;
  if (conn->calls != NULL) {
    conn->calls->link[conn->side].prev = c;
  }
  conn->calls = c;
}

static void list_remove(relay_conn *conn, relay_call *c) {
  relay_link *l = &c->link[conn->side];
  if (l->prev != NULL) {
    l->prev->link[conn->side].next = l->next;
  } else {
    conn->calls = l->next;
  }
  if (l->next != NULL) {
    l->next->link[conn->side].prev = l->prev;
  }
  l->next = l->prev = NULL;
}

relay_call *relay_call_new(relay_conn *down, int32_t id) {
  relay_call *c = calloc(1, sizeof *c);
  if (c == NULL) {
    return NULL;
  }
  c->rl = down->rl;
  c->down = down;
  c->down_id = id;
  c->down_open = true;
  c->status = -1;
  c->keep_req = true;
  c->deadline_ns = INT64_MAX; /* until it is routed */
  clock_gettime(CLOCK_MONOTONIC, &c->ts0);
  atomic_fetch_add(&c->rl->live_calls, 1);
  list_add(down, c);
  return c;
}

static void unlink_down(relay_call *c) {
  if (c->down != NULL) {
    list_remove(c->down, c);
    c->down = NULL;
  }
}

static void unlink_up(relay_call *c) {
  if (c->up != NULL) {
    list_remove(c->up, c);
    c->up = NULL;
  }
}

static void link_up(relay_call *c, relay_conn *up) {
  c->up = up;
  list_add(up, c);
}

/* The grpc-status of a header list, or -1. */
static int grpc_status_of(const relay_headers *h) {
  size_t len = 0;
  const char *v = relay_headers_get(h, "grpc-status", &len);
  if (v == NULL || len == 0 || len > 2) {
    return -1;
  }
  int code = 0;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9') {
      return -1;
    }
    code = code * 10 + (v[i] - '0');
  }
  return code <= 16 ? code : SHIMKIT_UNKNOWN;
}

/* ---- fast calls: the router's bookkeeping ----------------------------------------- */

/* The fast call ends with code: its replica released, the access-log line written. */
static void fast_end(relay_call *c, int code) {
  if (!c->fast) {
    return;
  }
  router *r = c->rl->r;
  router_backend *b = c->tried[c->n_tried - 1];
  router_release(b, (shimkit_code)code);
  if (r->access_log) {
    struct timespec ts1;
    clock_gettime(CLOCK_MONOTONIC, &ts1);
    double ms = (double)(ts1.tv_sec - c->ts0.tv_sec) * 1e3 + (double)(ts1.tv_nsec - c->ts0.tv_nsec) / 1e6;
    shimkit_log(SHIMKIT_LOG_INFO, "router", "forwarded %s from %s to %s (set %s): %s (%d attempt%s, %.1f ms)",
                relay_headers_get(&c->req_h, ":path", NULL), c->down != NULL ? c->down->name : "a gone client",
                b->address, c->set->spec.name, shimkit_code_name((shimkit_code)code), c->n_tried,
                c->n_tried == 1 ? "" : "s", ms);
  }
  router_config_unref(c->cfg);
  c->cfg = NULL;
  c->set = NULL;
  c->fast = false;
}

/* ---- moving bytes ------------------------------------------------------------------ */

/* Stops keeping c's request bytes: those handed over are dropped, and the
 * call is not sent again (a refused stream is refused to the client, which
 * sends it again itself). kept: the retry buffer's count without c's bytes. */
static void keep_end(relay_call *c, size_t kept) {
  struct relay *rl = c->rl;
  c->keep_req = false;
  atomic_store_explicit(&rl->kept_bytes, kept, memory_order_relaxed);
  if (rl->retry_buffer_full_logged && kept < rl->retry_buffer / 2) {
    rl->retry_buffer_full_logged = false; /* warn again the next time it fills */
  }
  relay_buf_drop_taken(&c->req);
  relay_buf_release_empty(&c->req);
}

/* While a call keeps its request, all of it is in c->req (nothing dropped) and counted in the retry buffer. */
static void keep_stop(relay_call *c) {
  if (c->keep_req) {
    keep_end(c, atomic_load_explicit(&c->rl->kept_bytes, memory_order_relaxed) - c->req.len);
  }
}

/* Counts the n request bytes c just received in the relay's retry buffer. A
 * call past RELAY_KEEP_MAX, or one that would overfill the buffer, stops keeping. */
static void keep_count(relay_call *c, size_t n) {
  struct relay *rl = c->rl;
  size_t kept = atomic_load_explicit(&rl->kept_bytes, memory_order_relaxed); /* only this thread writes it */
  size_t counted = c->req.len - n; /* what c had before them */
  if (c->req.len > RELAY_KEEP_MAX) {
    keep_end(c, kept - counted);
  } else if (kept + n > rl->retry_buffer) {
    if (!rl->retry_buffer_full_logged && rl->retry_buffer > 0) {
      rl->retry_buffer_full_logged = true;
      shimkit_log(SHIMKIT_LOG_WARN, "router",
                  "the relay's retry buffer is full (%zu KiB of requests kept for a second attempt): calls "
                  "past it are not sent to another replica when theirs refuses them (their clients are told "
                  "to send them again); --retry-buffer-mib sets its size",
                  kept / 1024);
    }
    keep_end(c, kept - counted);
  } else {
    atomic_store_explicit(&rl->kept_bytes, kept + n, memory_order_relaxed);
  }
}

/* n request bytes were handed to up: the client may send as many more on this stream. (The
 * connection's window opens as bytes arrive, relay_h2.c: one stream that is not read cannot hold
 * up the others; the stream windows bound what the relay holds.) */
static void ack_down(relay_call *c, size_t n) {
  if (c->down != NULL && !c->down->dead && c->down_open && n > 0) {
    nghttp2_session_consume_stream(c->down->s, c->down_id, n);
  }
}

static void ack_up(relay_call *c, size_t n) {
  if (c->up != NULL && !c->up->dead && c->up_open && n > 0) {
    nghttp2_session_consume_stream(c->up->s, c->up_id, n);
  }
}

static ssize_t read_request(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                            nghttp2_data_source *src, void *ud) {
  (void)s, (void)id, (void)ud;
  relay_call *c = src->ptr;
  size_t n = relay_buf_take(&c->req, buf, length, c->keep_req);
  size_t pos = relay_buf_position(&c->req);
  if (pos > c->req_consumed) {
    ack_down(c, pos - c->req_consumed);
    c->req_consumed = pos;
  }
  if (relay_buf_pending(&c->req) == 0) {
    if (c->req_eof) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return (ssize_t)n;
}

static ssize_t read_response(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                             nghttp2_data_source *src, void *ud) {
  (void)ud;
  relay_call *c = src->ptr;
  size_t n = relay_buf_take(&c->resp, buf, length, false);
  ack_up(c, n);
  if (relay_buf_pending(&c->resp) == 0) {
    if (c->trailers_in) {
      if (nghttp2_submit_trailer(s, id, c->trailers.nv, c->trailers.n) != 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
      *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      c->ended = true;
    } else if (c->resp_eof) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      c->ended = true;
    } else if (n == 0) {
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return (ssize_t)n;
}

/* Percent-encodes msg for grpc-message (the gRPC HTTP/2 spec). */
static void encode_message(const char *msg, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)msg; *p != '\0' && o + 4 < cap; p++) {
    if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = '\0';
}

/* Ends the client's call with code and msg (as trailers, or a trailers-only response). */
static void fail(relay_call *c, int code, const char *msg) {
  if (c->up_open && c->up != NULL) {
    nghttp2_submit_rst_stream(c->up->s, NGHTTP2_FLAG_NONE, c->up_id, NGHTTP2_CANCEL);
  }
  if (!c->down_open || c->down == NULL || c->ended) {
    return;
  }
  c->status = code;
  char status[8], message[600];
  snprintf(status, sizeof status, "%d", code);
  encode_message(msg, message, sizeof message);
  if (!c->answered) {
    nghttp2_nv nv[] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-status", (uint8_t *)status, 11, strlen(status), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-message", (uint8_t *)message, 12, strlen(message), NGHTTP2_NV_FLAG_NONE},
    };
    if (nghttp2_submit_response(c->down->s, c->down_id, nv, 4, NULL) != 0) {
      nghttp2_submit_rst_stream(c->down->s, NGHTTP2_FLAG_NONE, c->down_id, NGHTTP2_INTERNAL_ERROR);
    }
    c->answered = c->ended = true;
    return;
  }
  relay_headers_free(&c->trailers);
  if (relay_headers_add(&c->trailers, (const uint8_t *)"grpc-status", 11, (const uint8_t *)status,
                        strlen(status)) != 0 ||
      relay_headers_add(&c->trailers, (const uint8_t *)"grpc-message", 12, (const uint8_t *)message,
                        strlen(message)) != 0) {
    nghttp2_submit_rst_stream(c->down->s, NGHTTP2_FLAG_NONE, c->down_id, NGHTTP2_INTERNAL_ERROR);
    c->ended = true;
    return;
  }
  c->trailers_in = true;
  nghttp2_session_resume_data(c->down->s, c->down_id);
}

static int64_t mono_ns(const struct timespec *t) { return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec; }

/* The call's deadline (CLOCK_MONOTONIC ns): its grpc-timeout counted from its arrival (ts0); INT64_MAX when it
 * has none (or one that cannot be read: it goes on unchanged). Read once, when the call is routed. */
static int64_t deadline_of(const relay_call *c) {
  size_t len = 0;
  const char *v = relay_headers_get(&c->req_h, "grpc-timeout", &len);
  int64_t timeout = relay_timeout_parse(v, len);
  int64_t start = mono_ns(&c->ts0);
  return timeout < 0 || timeout > INT64_MAX - start ? INT64_MAX : start + timeout;
}

/* ns left before the call's deadline: INT64_MAX when it has none, <= 0 once it has passed. */
static int64_t time_left_ns(const relay_call *c) {
  if (c->deadline_ns == INT64_MAX) {
    return INT64_MAX;
  }
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return c->deadline_ns - mono_ns(&now);
}

static bool header_is(const nghttp2_nv *nv, const char *name) {
  size_t n = strlen(name);
  return nv->namelen == n && memcmp(nv->name, name, n) == 0;
}

/*
 * Opens the call's stream on up, its request (from the start) following; 0, or -1. The request's headers go
 * as they came, but for
 * - grpc-timeout: what is left of the call's deadline now (every attempt, and the server after them, get the
 *   client's deadline, not a fresh one);
 * - RELAY_PEER_HEADER: one a client sent never goes on (it would name any address it liked); to the router's
 *   server, the relay's own names the client (the server sees only the relay's unix socket).
 */
static int submit(relay_call *c, relay_conn *up) {
  if (c->req.base != 0) {
    return -1; /* bytes already dropped: it cannot be sent again */
  }
  nghttp2_nv on_stack[RELAY_SUBMIT_NV];
  nghttp2_nv *nv = c->req_h.n + 1 <= RELAY_SUBMIT_NV ? on_stack : malloc((c->req_h.n + 1) * sizeof *nv);
  if (nv == NULL) {
    return -1;
  }
  char timeout[RELAY_TIMEOUT_CAP];
  size_t timeout_len = 0;
  int64_t left = time_left_ns(c);
  if (left != INT64_MAX) {
    timeout_len = relay_timeout_format(left, timeout, sizeof timeout); /* 1n when it just passed */
  }
  size_t n = 0;
  for (size_t i = 0; i < c->req_h.n; i++) {
    if (header_is(&c->req_h.nv[i], RELAY_PEER_HEADER)) {
      continue;
    }
    nv[n] = c->req_h.nv[i];
    if (timeout_len > 0 && header_is(&nv[n], "grpc-timeout")) {
      nv[n].value = (uint8_t *)timeout;
      nv[n].valuelen = timeout_len;
    }
    n++;
  }
  if (up->internal && c->down != NULL) {
    nv[n++] = (nghttp2_nv){.name = (uint8_t *)RELAY_PEER_HEADER,
                           .value = (uint8_t *)c->down->name,
                           .namelen = sizeof RELAY_PEER_HEADER - 1,
                           .valuelen = strlen(c->down->name),
                           .flags = NGHTTP2_NV_FLAG_NONE};
  }
  c->req.off = 0;
  nghttp2_data_provider prd = {.source.ptr = c, .read_callback = read_request};
  int32_t id = nghttp2_submit_request(up->s, NULL, nv, n, &prd, c); /* copies nv */
  if (nv != on_stack) {
    free(nv);
  }
  if (id < 0) {
    return -1;
  }
  c->up_id = id;
  c->up_open = true;
  c->up_sent = false;
  link_up(c, up);
  if (nghttp2_session_get_next_stream_id(up->s) > RELAY_LAST_STREAM_ID) {
    up->goaway = true; /* stream ids run out at 2^31: retire it, the next call opens another */
  }
  return 0;
}

/* Ends the client's stream with REFUSED_STREAM: no handler ran, and its gRPC library may send the call again. */
static void refuse(relay_call *c) {
  nghttp2_submit_rst_stream(c->down->s, NGHTTP2_FLAG_NONE, c->down_id, NGHTTP2_REFUSED_STREAM);
  c->status = SHIMKIT_UNAVAILABLE;
  c->ended = true;
}

/* The call goes to the router's server (fresh, or sent again after fast attempts). */
static void to_server(relay_call *c) {
  relay_conn *up = relay_conn_server(c->rl);
  if (up == NULL && c->rl->draining && !c->answered && c->down != NULL) {
    refuse(c); /* as the server would: a gRPC client sends it again on a new connection */
    return;
  }
  if (up == NULL || submit(c, up) != 0) {
    fail(c, SHIMKIT_UNAVAILABLE, "router: its gRPC server cannot be reached");
    return;
  }
  keep_stop(c);
}

/* A connection to b for the call; NULL (b handed back, uncounted) when no socket could be made. */
static relay_conn *conn_for(relay_call *c, router_backend *b) {
  relay_conn *up = relay_conn_upstream(c->rl, b->address);
  if (up == NULL) {
    atomic_fetch_sub(&b->calls, 1);
    atomic_fetch_sub(&b->outstanding, 1);
  }
  return up;
}

/* The hash key of the call's set (its hash_key metadata value), or NULL. */
static const char *hash_key(const relay_call *c, size_t *len) {
  *len = 0;
  return c->set->spec.hash_key != NULL ? relay_headers_get(&c->req_h, c->set->spec.hash_key, len) : NULL;
}

/*
 * Whether every set a call of group g may go to can take it from the relay:
 * no retry_not_found (the server asks the other replicas when one answers
 * NOT_FOUND), no hashing on a request field (the server reads the message), no hash key
 * ending in -bin (the server hashes the decoded bytes), and only IP:PORT
 * replicas (the server's channel resolves names). Checked before any set is
 * chosen or replica picked, so that a call sent on to the server takes its
 * turn in the weights and the round robin once, there.
 */
static bool group_relayable(router_config *cfg, const router_group *g) {
  for (int i = 0; i < g->n_sets; i++) {
    const router_set *s = &cfg->sets[g->sets[i]];
    size_t kl = s->spec.hash_key != NULL ? strlen(s->spec.hash_key) : 0;
    if (s->spec.retry_not_found || s->spec.hash_field != NULL ||
        (kl >= 4 && strcmp(s->spec.hash_key + kl - 4, "-bin") == 0) || s->n_unresolved > 0) {
      return false;
    }
    for (int j = 0; j < s->n_backends; j++) {
      if (!s->backends[j]->numeric) {
        return false;
      }
    }
  }
  return true;
}

/* The call as a fast one, if it may be; false: it goes to the server. */
static bool try_fast(relay_call *c) {
  relay *rl = c->rl;
  router *r = rl->r;
  size_t path_len = 0;
  const char *path = relay_headers_get(&c->req_h, ":path", &path_len);
  if (rl->draining || path == NULL || path_len < 4 || path[0] != '/' || strlen(path) != path_len) {
    return false;
  }
  const char *service = path + 1;
  const char *slash = strchr(service, '/');
  if (slash == NULL) {
    return false;
  }
  size_t service_len = (size_t)(slash - service);
  /* The router's own services are never fast: its gRPC server answers them. */
  if (router_own_service(service, service_len) || atomic_load(&r->n_holds_seen) > 0 ||
      !router_method_known_unary(r->kinds, path)) {
    return false;
  }
  router_config *cfg = router_config_get(r);
  router_group *g = router_find_group(cfg, service, service_len);
  if (g == NULL || !group_relayable(cfg, g)) {
    router_config_unref(cfg); /* no set chosen, no turn taken: the server's choice is the only one */
    return false;
  }
  router_set *set = router_choose_set(cfg, service, service_len);
  if (set == NULL) {
    router_config_unref(cfg);
    return false;
  }
  c->cfg = cfg;
  c->set = set;
  size_t key_len = 0;
  const char *key = hash_key(c, &key_len);
  router_backend *b = router_pick(set, NULL, 0, false, key, key_len);
  relay_conn *up = b != NULL ? conn_for(c, b) : NULL;
  if (up == NULL || submit(c, up) != 0) {
    if (up != NULL) {
      router_release(b, SHIMKIT_OK);
      atomic_fetch_sub(&b->calls, 1);
    }
    router_config_unref(cfg);
    c->cfg = NULL;
    c->set = NULL;
    return false;
  }
  c->fast = true;
  atomic_fetch_add_explicit(&rl->direct_calls, 1, memory_order_relaxed);
  c->tried[0] = b;
  c->n_tried = 1;
  return true;
}

void relay_call_route(relay_call *c) {
  if (c->routed) {
    return;
  }
  c->routed = true;
  c->deadline_ns = deadline_of(c);
  if (time_left_ns(c) <= 0) { /* its headers took the whole deadline to come: nothing is sent */
    if (c->rl->r->access_log) {
      shimkit_log(SHIMKIT_LOG_INFO, "router", "%s from %s: DEADLINE_EXCEEDED before it was sent anywhere",
                  relay_headers_get(&c->req_h, ":path", NULL), c->down != NULL ? c->down->name : "a gone client");
    }
    fail(c, SHIMKIT_DEADLINE_EXCEEDED, "router: the deadline passed before the call could be sent");
    return;
  }
  if (!try_fast(c)) {
    to_server(c);
  }
}

/* The attempt's replica could not be reached (why): another replica, else the server. */
static void retry(relay_call *c, const char *why) {
  if (time_left_ns(c) <= 0) { /* as the server does: no attempt after the deadline */
    fail(c, SHIMKIT_DEADLINE_EXCEEDED, "router: the deadline passed before a replica could be reached");
    return;
  }
  if (!c->fast) {
    to_server(c);
    return;
  }
  router_backend *b = c->tried[c->n_tried - 1];
  router_release(b, SHIMKIT_UNAVAILABLE);
  atomic_fetch_add(&b->retried_away, 1);
  const char *path = relay_headers_get(&c->req_h, ":path", NULL);
  size_t key_len = 0;
  const char *key = hash_key(c, &key_len);
  router_backend *nb =
      c->n_tried < ROUTER_MAX_ATTEMPTS ? router_pick(c->set, c->tried, c->n_tried, false, key, key_len) : NULL;
  relay_conn *up = nb != NULL ? conn_for(c, nb) : NULL;
  if (up != NULL && submit(c, up) == 0) {
    c->tried[c->n_tried++] = nb;
    shimkit_log(SHIMKIT_LOG_INFO, "router", "%s: %s could not be reached (%s); retrying on %s", path, b->address,
                why, nb->address);
    return;
  }
  if (up != NULL) {
    router_release(nb, SHIMKIT_UNAVAILABLE);
  }
  shimkit_log(SHIMKIT_LOG_INFO, "router", "%s: %s could not be reached (%s); sent through the router's server",
              path, b->address, why);
  router_config_unref(c->cfg);
  c->cfg = NULL;
  c->set = NULL;
  c->fast = false;
  to_server(c);
}

void relay_call_request_data(relay_call *c, const uint8_t *p, size_t n) {
  if (c->ended && !c->up_open) {
    ack_down(c, n); /* answered already (an error): dropped */
    return;
  }
  if (relay_buf_append(&c->req, p, n) != 0) {
    fail(c, SHIMKIT_RESOURCE_EXHAUSTED, "router: out of memory");
    return;
  }
  if (c->keep_req) {
    keep_count(c, n);
  }
  if (c->up_open && c->up != NULL) {
    nghttp2_session_resume_data(c->up->s, c->up_id);
  }
}

void relay_call_request_end(relay_call *c) {
  c->req_eof = true;
  if (c->up_open && c->up != NULL) {
    nghttp2_session_resume_data(c->up->s, c->up_id);
  }
}

void relay_call_sent(relay_call *c) {
  c->up_sent = true;
}

void relay_call_response_headers(relay_call *c, bool trailers_only) {
  c->resp_in = true;
  keep_stop(c);
  if (!c->down_open || c->down == NULL || c->answered) {
    return;
  }
  if (trailers_only) {
    c->status = grpc_status_of(&c->resp_h);
    c->answered = c->ended = true;
    if (nghttp2_submit_response(c->down->s, c->down_id, c->resp_h.nv, c->resp_h.n, NULL) != 0) {
      nghttp2_submit_rst_stream(c->down->s, NGHTTP2_FLAG_NONE, c->down_id, NGHTTP2_INTERNAL_ERROR);
    }
    return;
  }
  nghttp2_data_provider prd = {.source.ptr = c, .read_callback = read_response};
  if (nghttp2_submit_response(c->down->s, c->down_id, c->resp_h.nv, c->resp_h.n, &prd) != 0) {
    fail(c, SHIMKIT_INTERNAL, "router: cannot relay the reply's headers");
    return;
  }
  c->answered = true;
}

void relay_call_response_data(relay_call *c, const uint8_t *p, size_t n) {
  if (!c->down_open || c->down == NULL || c->ended) {
    ack_up(c, n);
    return;
  }
  if (relay_buf_append(&c->resp, p, n) != 0) {
    ack_up(c, n);
    fail(c, SHIMKIT_RESOURCE_EXHAUSTED, "router: out of memory");
    return;
  }
  nghttp2_session_resume_data(c->down->s, c->down_id);
}

void relay_call_response_end(relay_call *c, bool with_trailers) {
  if (with_trailers) {
    c->status = grpc_status_of(&c->trailers);
    if (c->status < 0) {
      c->status = SHIMKIT_UNKNOWN;
    }
    c->trailers_in = true;
  } else {
    c->resp_eof = true;
  }
  if (c->down_open && c->down != NULL && c->answered && !c->ended) {
    nghttp2_session_resume_data(c->down->s, c->down_id);
  }
}

static void maybe_free(relay_call *c) {
  if (c->down_open || c->up_open) {
    return;
  }
  fast_end(c, c->status >= 0 ? c->status : SHIMKIT_CANCELLED);
  keep_stop(c);
  unlink_down(c);
  unlink_up(c);
  relay_headers_free(&c->req_h);
  relay_headers_free(&c->resp_h);
  relay_headers_free(&c->trailers);
  relay_buf_free(&c->req);
  relay_buf_free(&c->resp);
  atomic_fetch_sub(&c->rl->live_calls, 1);
  free(c);
}

/* The client's side is gone (its stream closed, or its connection). */
static void down_gone(relay_call *c) {
  c->down_open = false;
  if (c->up_open && c->up != NULL) {
    nghttp2_submit_rst_stream(c->up->s, NGHTTP2_FLAG_NONE, c->up_id, NGHTTP2_CANCEL);
  }
  fast_end(c, c->ended && c->status >= 0 ? c->status : SHIMKIT_CANCELLED);
  unlink_down(c);
  maybe_free(c);
}

/* The replica's (or server's) side is gone before or after its status; why says how. */
static void up_gone(relay_call *c, bool refused, const char *why) {
  c->up_open = false;
  unlink_up(c);
  bool complete = c->trailers_in || c->resp_eof || c->ended;
  if (!complete && c->down_open) {
    if (!c->resp_in && c->keep_req && refused) {
      retry(c, why);
    } else if (refused && !c->resp_in && !c->answered && c->down != NULL) {
      refuse(c); /* not processed (HTTP/2 says so): refused to the client too */
    } else {
      char msg[300];
      if (c->fast) {
        snprintf(msg, sizeof msg, "router: replica %s ended the call without a status (%s)",
                 c->tried[c->n_tried - 1]->address, why);
      } else {
        snprintf(msg, sizeof msg, "router: its gRPC server ended the call without a status (%s)", why);
      }
      fail(c, SHIMKIT_UNAVAILABLE, msg);
    }
  }
  maybe_free(c);
}

void relay_call_closed(relay_call *c, relay_side side, uint32_t error_code) {
  if (side == RELAY_DOWN) {
    if (c->down_open) {
      down_gone(c);
    }
    return;
  }
  if (!c->up_open) {
    return;
  }
  char why[96];
  snprintf(why, sizeof why, "HTTP/2 %s", nghttp2_http2_strerror(error_code));
  up_gone(c, error_code == NGHTTP2_REFUSED_STREAM || (!c->up_sent && error_code == NGHTTP2_NO_ERROR), why);
}

void relay_call_conn_lost(relay_call *c, relay_side side, const char *why) {
  if (side == RELAY_DOWN) { /* the connection is gone: nothing more is said on it */
    if (c->down_open) {
      down_gone(c);
    } else {
      unlink_down(c);
    }
    return;
  }
  if (c->up_open) {
    up_gone(c, !c->up_sent, why);
  } else {
    unlink_up(c);
  }
}
