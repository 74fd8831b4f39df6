/*
 * fsb_h2.c - the "shim-h2" lookup variant: GetOnlineFeatures through the
 * shim with a minimal gRPC client written on nghttp2 (the library h2load is
 * built on) instead of gRPC core. One blocking TCP connection per client
 * thread, one call at a time; the request is packed with protobuf-c and the
 * reply decoded into the thread's arena, as the "shim" variant does. What
 * it leaves out is gRPC core's client stack, so the difference between
 * "shim-h2" and "direct" is what the shim itself (server, conversion,
 * loopback) adds, and "shim" minus "shim-h2" is what gRPC core's client adds.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fsb.h"
#include "ip_port.h"
#include "ml/v1/feature_store.pb-c.h"
#include "shimkit/arena.h"

#define H2_PATH "/shimkit.ml.v1.FeatureStore/GetOnlineFeatures"
#define H2_MAX_REPLY (16 * 1024 * 1024)

typedef struct h2_client {
  int fd;
  nghttp2_session *session;
  shimkit_arena *arena;
  char authority[64];
  uint8_t request[512]; /* gRPC frame: 5-byte prefix + the packed request */
  size_t request_len, request_sent;
  uint8_t *reply;       /* the reply's DATA, gRPC frame(s) */
  size_t reply_len, reply_cap;
  int grpc_status;      /* from the trailers; -1 until seen */
  int closed;           /* the stream ended */
  int broken;           /* the connection failed */
} h2_client;

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *user) {
  (void)s, (void)flags;
  h2_client *c = user;
  size_t off = 0;
  while (off < len) {
    ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
    off += (size_t)n;
  }
  return (ssize_t)len;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user) {
  (void)s, (void)flags, (void)id;
  h2_client *c = user;
  if (c->reply_len + len > H2_MAX_REPLY) return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (c->reply_len + len > c->reply_cap) {
    size_t cap = c->reply_cap ? c->reply_cap : 4096;
    while (cap < c->reply_len + len) cap *= 2;
    uint8_t *p = realloc(c->reply, cap);
    if (!p) return NGHTTP2_ERR_CALLBACK_FAILURE;
    c->reply = p, c->reply_cap = cap;
  }
  memcpy(c->reply + c->reply_len, data, len);
  c->reply_len += len;
  return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user) {
  (void)s, (void)f, (void)flags;
  h2_client *c = user;
  if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0 && valuelen > 0 && valuelen < 4) {
    char v[4];
    memcpy(v, value, valuelen);
    v[valuelen] = '\0';
    c->grpc_status = atoi(v);
  }
  return 0;
}

static int on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *user) {
  (void)s, (void)id, (void)error_code;
  ((h2_client *)user)->closed = 1;
  return 0;
}

/* The request body, handed to nghttp2 as it asks. */
static ssize_t read_request(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                            nghttp2_data_source *src, void *user) {
  (void)s, (void)id, (void)src;
  h2_client *c = user;
  size_t n = c->request_len - c->request_sent;
  if (n > len) n = len;
  memcpy(buf, c->request + c->request_sent, n);
  c->request_sent += n;
  if (c->request_sent == c->request_len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

/* A blocking TCP connection to addr ("IP:PORT" or "[IPv6]:PORT", read by the router's own parser), or -1. */
static int connect_to(const char *addr) {
  struct sockaddr_storage ss;
  socklen_t len;
  if (!router_ip_port(addr, &ss, &len)) return -1;
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0) return -1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void h2_close(void *state) {
  h2_client *c = state;
  if (!c) return;
  if (c->session) nghttp2_session_del(c->session);
  if (c->fd >= 0) close(c->fd);
  shimkit_arena_free(c->arena);
  free(c->reply);
  free(c);
}

static void *h2_open(const fsb_config *cfg, void *shared) {
  (void)cfg;
  const char *addr = shared;
  h2_client *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->fd = connect_to(addr);
  c->arena = shimkit_arena_new(0);
  snprintf(c->authority, sizeof c->authority, "%s", addr);
  nghttp2_session_callbacks *cb = NULL;
  if (c->fd < 0 || !c->arena || nghttp2_session_callbacks_new(&cb) != 0) {
    h2_close(c);
    return NULL;
  }
  nghttp2_session_callbacks_set_send_callback(cb, on_send);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  int rv = nghttp2_session_client_new(&c->session, cb, c);
  nghttp2_session_callbacks_del(cb);
  if (rv != 0 || nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, NULL, 0) != 0 ||
      nghttp2_session_send(c->session) != 0) {
    h2_close(c);
    return NULL;
  }
  return c;
}

/* Sends what nghttp2 has queued and reads until the stream closes. 0 or -1. */
static int run_call(h2_client *c) {
  uint8_t buf[16384];
  while (!c->closed) {
    if (nghttp2_session_send(c->session) != 0) return -1;
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || nghttp2_session_mem_recv(c->session, buf, (size_t)n) != n) return -1;
  }
  return nghttp2_session_send(c->session) == 0 ? 0 : -1; /* window updates, acks */
}

static int h2_lookup(void *state, const char *key) {
  h2_client *c = state;
  if (c->broken) return -1;
  char *keys[1] = {(char *)key};
  Shimkit__Ml__V1__GetOnlineFeaturesRequest req = SHIMKIT__ML__V1__GET_ONLINE_FEATURES_REQUEST__INIT;
  req.view = FSB_VIEW;
  req.n_entity_keys = 1;
  req.entity_keys = keys;
  size_t len = shimkit__ml__v1__get_online_features_request__get_packed_size(&req);
  if (len + 5 > sizeof c->request) return -1;
  c->request[0] = 0;
  c->request[1] = (uint8_t)(len >> 24), c->request[2] = (uint8_t)(len >> 16);
  c->request[3] = (uint8_t)(len >> 8), c->request[4] = (uint8_t)len;
  shimkit__ml__v1__get_online_features_request__pack(&req, c->request + 5);
  c->request_len = len + 5, c->request_sent = 0;
  c->reply_len = 0, c->grpc_status = -1, c->closed = 0;

  const nghttp2_nv nv[] = {
      {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)":path", (uint8_t *)H2_PATH, 5, sizeof H2_PATH - 1, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)":authority", (uint8_t *)c->authority, 10, strlen(c->authority), NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
      {(uint8_t *)"te", (uint8_t *)"trailers", 2, 8, NGHTTP2_NV_FLAG_NONE},
  };
  nghttp2_data_provider body = {.read_callback = read_request};
  if (nghttp2_submit_request(c->session, NULL, nv, sizeof nv / sizeof *nv, &body, c) < 0 || run_call(c) != 0) {
    c->broken = 1;
    return -1;
  }
  int present = -1;
  size_t msg_len = c->reply_len >= 5 ? ((size_t)c->reply[1] << 24 | (size_t)c->reply[2] << 16 |
                                        (size_t)c->reply[3] << 8 | c->reply[4]) : 0;
  if (c->grpc_status == 0 && c->reply_len >= 5 && c->reply[0] == 0 && msg_len == c->reply_len - 5) {
    const Shimkit__Ml__V1__GetOnlineFeaturesResponse *resp = shimkit__ml__v1__get_online_features_response__unpack(
        shimkit_arena_allocator(c->arena), msg_len, c->reply + 5);
    present = fsb_count_present(resp);
  }
  shimkit_arena_reset(c->arena);
  return present;
}

void fsb_h2_variant(const char *addr, const char *backend, fsb_variant *out) {
  *out = (fsb_variant){.name = "shim-h2", .backend = backend, .open = h2_open, .lookup = h2_lookup,
                       .close = h2_close, .shared = (void *)addr};
}
