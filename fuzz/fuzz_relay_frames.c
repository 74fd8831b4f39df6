/*
 * fuzz_relay_frames.c - the router's HTTP/2 relay (runtime/router/relay*.c)
 * fed what a client sends on a connection.
 *
 * Why: the relay is the first code on the router's address to see a
 * client's bytes. nghttp2 decodes the frames; the relay's callbacks collect
 * header lists, route each call, buffer and hand over DATA, answer errors
 * and close streams, all on those bytes. None of it may crash, leak or
 * touch freed memory, whatever the input: a call is freed when both its
 * streams are gone, here when the connection is closed at the end.
 *
 * Input: the bytes of one client connection (the preface, then frames).
 * Calls are routed as on a router with no replica known to serve unary
 * methods, so each goes to the router's server, which here cannot be
 * reached: the relay answers UNAVAILABLE, as it would.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "relay_internal.h"

static router g_router; /* no sets: nothing is relayed straight to a replica */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    router_init(&g_router);
    ready = 1;
  }
  relay rl;
  memset(&rl, 0, sizeof rl);
  rl.r = &g_router;
  rl.listen_fd = rl.epoll_fd = rl.wake_fd = -1;
  atomic_init(&rl.live_calls, 0);
  rl.retry_buffer = RELAY_RETRY_BUFFER_DEFAULT;
  atomic_init(&rl.kept_bytes, 0);
  snprintf(rl.server_addr, sizeof rl.server_addr, "unix:/nonexistent/shimkit-fuzz/server.sock");

  relay_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    return 0;
  }
  c->rl = &rl;
  c->side = RELAY_DOWN;
  c->fd = -1;
  snprintf(c->name, sizeof c->name, "ipv4:127.0.0.1:1");
  rl.conns = c;
  if (relay_h2_session(c) != 0) {
    free(c);
    return 0;
  }
  /* In two reads, as a socket may deliver it, with the relay's writes after each. */
  size_t half = size / 2;
  const uint8_t *parts[2] = {data, data + half};
  size_t lens[2] = {half, size - half};
  for (int p = 0; p < 2 && !c->dead; p++) {
    if (nghttp2_session_mem_recv(c->s, parts[p], lens[p]) < 0) {
      break;
    }
    for (int i = 0; i < 1000; i++) {
      const uint8_t *out = NULL;
      if (nghttp2_session_mem_send(c->s, &out) <= 0) {
        break;
      }
    }
  }
  relay_conn_close(c, "fuzz: input ended");
  if (c->calls != NULL || atomic_load(&rl.live_calls) != 0 || atomic_load(&rl.kept_bytes) != 0) {
    abort(); /* every call is gone with its connection, and what it kept with it */
  }
  nghttp2_session_del(c->s);
  free(c->out);
  free(c);
  return 0;
}
