/*
 * call_run.c - one call, from the request that matched it to its end.
 *
 * shimkit__call_event() gets every event of the shared queue (worker.c):
 *   - a request matched: post a fresh request for the method, then
 *       unary:    decode the request that came with the call, run the
 *                 interceptors and the handler on this worker, start the
 *                 final batch (RECV_CLOSE + metadata + response + status) on
 *                 the shared queue and return to polling;
 *       stream:   run the whole call here, synchronously on the slot's own
 *                 queue (call.c), then finish it;
 *       unknown:  start a trailers-only UNIMPLEMENTED batch, or with a raw
 *                 handler (raw.c) run it like a stream;
 *   - a final batch or an early close of a unary call completed: the call's
 *     last event (slot->pending reaches 0) finishes it: access log, unref,
 *     the slot goes back to the free list.
 * A request that failed (the server is shutting down) just frees its slot.
 */
#define _POSIX_C_SOURCE 200809L
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <string.h>

#include "server_core.h"
#include "shimkit/call.h"
#include "shimkit/log.h"

/* ---- the interceptor chain --------------------------------------------------- */

struct shimkit_next {
  shimkit_call *call;          /* the call */
  size_t index;                /* next interceptor to run; n_interceptors = the handler */
  const ProtobufCMessage *req; /* request for the trampoline */
  ProtobufCMessage *resp;      /* response for the trampoline */
};

shimkit_code shimkit_next_call(shimkit_next *next) {
  if (next == NULL || next->call == NULL) {
    return SHIMKIT_INTERNAL;
  }
  shimkit_call *c = next->call;
  const shimkit_server *srv = c->srv;
  if (next->index < srv->n_interceptors) {
    const shimkit__interceptor *ic = &srv->interceptors[next->index];
    shimkit_next inner = *next;
    inner.index++;
    return ic->fn(c, &inner, ic->user_data);
  }
  if (c->handler_ran) {
    /* An interceptor called next twice: a handler must run once per call. */
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "%s: an interceptor ran the handler twice", c->method);
    return shimkit_call_error(c, SHIMKIT_INTERNAL, "server interceptor error");
  }
  c->handler_ran = true;
  return c->desc->invoke(c->service->handlers, c, next->req, next->resp, c->service->user_data);
}

/* ---- one call ----------------------------------------------------------------- */

/* Copies a slice into the arena, replacing bytes that are not printable ASCII. */
static const char *copy_printable(shimkit__arena *a, grpc_slice s, size_t max) {
  size_t len = GRPC_SLICE_LENGTH(s);
  if (len > max) {
    len = max;
  }
  char *p = shimkit__arena_strndup(a, (const char *)GRPC_SLICE_START_PTR(s), len);
  if (p != NULL) {
    for (size_t i = 0; i < len; i++) {
      if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e) {
        p[i] = '?';
      }
    }
  }
  return p;
}

/* Whether the metadata entry m is the one a front names the client in (shimkit_server_set_front_peer_key). */
static bool front_peer_entry(const shimkit_server *srv, const grpc_metadata *m) {
  size_t n = strlen(srv->front_peer_key);
  return n > 0 && GRPC_SLICE_LENGTH(m->key) == n &&
         memcmp(GRPC_SLICE_START_PTR(m->key), srv->front_peer_key, n) == 0;
}

/* Copies what the request delivered into the arena. false when out of memory. */
static bool take_request(shimkit_call *c, const shimkit__slot *s) {
  const grpc_metadata_array *md = &s->md;
  if (s->method->desc != NULL) {
    c->method = s->method->desc->path; /* static: the generated table */
    c->deadline = s->deadline;
  } else {
    c->method = copy_printable(c->arena, s->details.method, SHIMKIT__METHOD_PATH_MAX);
    c->deadline = s->details.deadline;
  }
  char *peer = grpc_call_get_peer(c->core);
  if (peer != NULL) {
    c->peer = shimkit__arena_strndup(c->arena, peer, strlen(peer));
    gpr_free(peer);
  }
  if (c->method == NULL || c->peer == NULL) {
    return false;
  }
  /* Through a front, over a unix socket: the client is the one the front names (the front removed any entry
   * the client sent). The entry is not the call's metadata. */
  bool via_front = strncmp(c->peer, "unix:", 5) == 0;
  c->n_req_md = 0;
  if (md->count > 0) {
    c->req_keys = shimkit__arena_alloc(c->arena, md->count * sizeof(char *));
    c->req_values = shimkit__arena_alloc(c->arena, md->count * sizeof(char *));
    c->req_lens = shimkit__arena_alloc(c->arena, md->count * sizeof(size_t));
    if (c->req_keys == NULL || c->req_values == NULL || c->req_lens == NULL) {
      return false;
    }
    for (size_t i = 0; i < md->count; i++) {
      const grpc_metadata *m = &md->metadata[i];
      if (front_peer_entry(c->srv, m)) {
        if (via_front && GRPC_SLICE_LENGTH(m->value) > 0) {
          c->peer = copy_printable(c->arena, m->value, SHIMKIT__PEER_MAX);
          via_front = false; /* the first entry names it */
          if (c->peer == NULL) {
            return false;
          }
        }
        continue;
      }
      size_t j = c->n_req_md++;
      c->req_keys[j] = shimkit__arena_strndup(c->arena, (const char *)GRPC_SLICE_START_PTR(m->key),
                                              GRPC_SLICE_LENGTH(m->key));
      c->req_values[j] = shimkit__arena_strndup(c->arena, (const char *)GRPC_SLICE_START_PTR(m->value),
                                                GRPC_SLICE_LENGTH(m->value));
      c->req_lens[j] = GRPC_SLICE_LENGTH(m->value);
      if (c->req_keys[j] == NULL || c->req_values[j] == NULL) {
        return false;
      }
    }
  }
  return true;
}

/* Decodes the single request of a unary or server-streaming call (it came with the call). */
static bool decode_request(shimkit_call *c) {
  grpc_byte_buffer *bb = c->slot->payload;
  if (bb == NULL) {
    shimkit_call_error(c, SHIMKIT_INVALID_ARGUMENT, "%s expects one request message; none came", c->method);
    c->fail_code = SHIMKIT_INVALID_ARGUMENT;
    return false;
  }
  int rc = shimkit__call_decode(c, bb, c->desc->request, shimkit__arena_allocator(c->arena), &c->request);
  grpc_byte_buffer_destroy(bb);
  c->slot->payload = NULL;
  return rc == 0;
}

/*
 * Sends initial metadata (unless sent), the response (if any) and the status:
 * a stream call waits for the batch on its own queue; a unary call starts it
 * on the shared queue, and the worker that takes its event finishes the call.
 */
void shimkit__call_send_status(shimkit_call *c, shimkit_code code, const char *message, grpc_byte_buffer *response) {
  grpc_op ops[4];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  /* Nobody asked about cancellation: learn how the call closed in this batch
   * (one batch and one event fewer per call than watching from the start). */
  bool with_close = !c->close_started;
  if (with_close) {
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n].data.recv_close_on_server.cancelled = &c->close_cancelled;
    n++;
    c->close_started = true;
  }
  if (!c->initial_md_sent) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].data.send_initial_metadata.count = c->n_init_md;
    ops[n].data.send_initial_metadata.metadata = c->init_md;
    n++;
    c->initial_md_sent = true;
  }
  if (response != NULL) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = response;
    n++;
  }
  if (code != SHIMKIT_OK) {
    /* Binary details travel as a -bin trailer; gRPC base64-encodes it. */
    shimkit__call_add_details_trailer(c);
  }
  grpc_slice msg_slice;
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = (grpc_status_code)code;
  ops[n].data.send_status_from_server.trailing_metadata_count = c->n_trail_md;
  ops[n].data.send_status_from_server.trailing_metadata = c->trail_md;
  if (message != NULL && message[0] != '\0') {
    msg_slice = grpc_slice_from_static_string(message);
    ops[n].data.send_status_from_server.status_details = &msg_slice;
  }
  n++;
  if (c->cq != NULL) {
    shimkit__call_wait_op(c, ops, n);
  } else {
    atomic_fetch_add(&c->slot->pending, 1);
    if (grpc_call_start_batch(c->core, ops, n, &c->slot->tags[SHIMKIT__TAG_KIND_FINAL], NULL) !=
        GRPC_CALL_OK) {
      shimkit_log(SHIMKIT_LOG_ERROR, "server", "%s: gRPC refused the final batch", c->method);
      atomic_fetch_sub(&c->slot->pending, 1);
      c->broken = true;
    }
  }
  if (with_close) {
    atomic_store(&c->close_done, true); /* completes with the batch, or never started */
  }
}

/* The interceptors and the handler; the status to send and the encoded response. */
static shimkit_code handle(shimkit_call *c, grpc_byte_buffer **response_bb) {
  shimkit_code code = SHIMKIT_OK;
  *response_bb = NULL;
  if (!take_request(c, c->slot)) {
    if (c->method == NULL) {
      c->method = "?";
    }
    return shimkit_call_error(c, SHIMKIT_RESOURCE_EXHAUSTED, "server out of memory");
  }
  if (c->slot->method->desc == NULL && c->srv->has_forwarder) {
    return shimkit__fwd_start(c);
  }
  if (c->slot->method->desc == NULL && c->srv->raw_fn != NULL) {
    return shimkit__raw_run(c);
  }
  if (c->slot->method->desc == NULL) {
    /* Every declared method is registered, so only unknown paths come here;
     * the lookup only words the answer. */
    bool service_known = false;
    const shimkit_method_desc *none = NULL;
    (void)shimkit__server_find_method(c->srv, c->method, &none, &service_known);
    if (service_known) {
      code = shimkit_call_error(c, SHIMKIT_UNIMPLEMENTED, "unknown method %s", c->method);
    } else {
      code = shimkit_call_error(c, SHIMKIT_UNIMPLEMENTED, "unknown service for method %s", c->method);
    }
    shimkit_log(SHIMKIT_LOG_WARN, "server", "%s from %s: UNIMPLEMENTED: no such method", c->method, c->peer);
    return code;
  }
  c->service = c->slot->method->service;
  c->desc = c->slot->method->desc;

  const shimkit_method_desc *m = c->desc;
  if (m->kind == SHIMKIT_METHOD_UNARY || m->kind == SHIMKIT_METHOD_SERVER_STREAMING) {
    if (!decode_request(c)) {
      code = c->fail_code;
      shimkit_log(SHIMKIT_LOG_WARN, "server", "%s from %s: %s: %s", c->method, c->peer,
                  shimkit_code_name(code), c->status_message != NULL ? c->status_message : "");
      return code;
    }
  }

  ProtobufCMessage *response = NULL;
  if (m->kind == SHIMKIT_METHOD_UNARY || m->kind == SHIMKIT_METHOD_CLIENT_STREAMING) {
    response = shimkit__arena_alloc(c->arena, m->response->sizeof_message);
    if (response == NULL) {
      return shimkit_call_error(c, SHIMKIT_RESOURCE_EXHAUSTED, "server out of memory");
    }
    m->response->message_init(response);
  }

  shimkit_next chain = {c, 0, c->request, response};
  code = shimkit_next_call(&chain);
  if ((int)code < 0 || code > SHIMKIT_UNAUTHENTICATED) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "%s: handler returned %d, not a status code", c->method,
                (int)code);
    code = shimkit_call_error(c, SHIMKIT_UNKNOWN, "handler returned an invalid status code");
  }
  if ((code == SHIMKIT_OK || code == SHIMKIT_CANCELLED) && c->fail_code != SHIMKIT_OK) {
    /* The runtime's reason (a request that did not decode, a response over the
     * limit) beats the handler's reaction to the failed read or write. */
    code = c->fail_code;
  }
  if (code == SHIMKIT_CANCELLED && shimkit_call_time_left_ms(c) <= 0) {
    /* A handler that stopped because the deadline passed says CANCELLED; the
     * client must see the same DEADLINE_EXCEEDED its own timer would give. */
    code = shimkit_call_error(c, SHIMKIT_DEADLINE_EXCEEDED, "deadline exceeded while the handler ran");
  }
  if (code == SHIMKIT_OK && response != NULL && !c->broken) {
    if (shimkit__call_encode(c, response, response_bb) != 0) {
      code = c->fail_code;
      shimkit_log(SHIMKIT_LOG_ERROR, "server", "%s: %s", c->method, c->status_message);
    }
  }
  if (code != SHIMKIT_OK && !c->broken) {
    shimkit_log(SHIMKIT_LOG_INFO, "server", "%s from %s: %s: %s", c->method, c->peer, shimkit_code_name(code),
                c->status_message != NULL ? c->status_message : shimkit_strerror(code));
  }
  return code;
}

/* Logs what the client saw, releases the call and its slot. */
static void finish(shimkit_call *c, shimkit_code code, const char *message) {
  shimkit_server *srv = c->srv;
  shimkit__slot *slot = c->slot;
  if (c->broken || c->close_cancelled) {
    /* Log what the client saw: the call ended before (or instead of) our status. */
    if (shimkit_call_time_left_ms(c) <= 0) {
      code = SHIMKIT_DEADLINE_EXCEEDED;
      message = "deadline exceeded before the status was sent";
    } else if (atomic_load(&srv->cancelling)) {
      code = SHIMKIT_UNAVAILABLE;
      message = "cancelled by the server's drain";
    } else {
      code = SHIMKIT_CANCELLED;
      message = "cancelled by the client or connection lost";
    }
  }
  if (srv->opts.access_log) {
    shimkit__access_log(c, code, message);
  }
  if (c->last_read != NULL) {
    protobuf_c_message_free_unpacked(c->last_read, NULL);
    c->last_read = NULL;
  }
  bool held_worker = c->cq != NULL;
  grpc_call_unref(c->core);
  memset(c, 0, sizeof *c);
  shimkit__server_call_ended(srv, held_worker);
  shimkit__slot_release(srv, slot);
}

/* Drops one reference of an async call; the last one finishes it. */
static void async_unref(shimkit__slot *slot) {
  if (atomic_fetch_sub(&slot->pending, 1) == 1) {
    shimkit_call *c = &slot->call;
    shimkit__fwd *f = atomic_exchange(&slot->fwd, NULL);
    if (f != NULL) {
      shimkit__fwd_free(f); /* every batch of the forward is done */
    }
    if (slot->payload != NULL) {
      grpc_byte_buffer_destroy(slot->payload); /* the response that went out */
      slot->payload = NULL;
    }
    finish(c, slot->code, slot->message);
  }
}

void shimkit__call_unref(shimkit__slot *slot) {
  async_unref(slot);
}

static const char *status_text(shimkit_call *c, shimkit_code code) {
  if (code == SHIMKIT_OK) {
    return NULL;
  }
  return c->status_message != NULL ? c->status_message : shimkit_strerror(code);
}

/* A call that arrived: runs it (stream) or starts it (unary, unknown). */
static void start_call(shimkit_server *srv, shimkit__slot *slot) {
  shimkit_call *c = &slot->call;
  memset(c, 0, sizeof *c);
  c->srv = srv;
  c->slot = slot;
  c->core = slot->core;
  c->arena = &slot->arena;
  c->cq = slot->method->sync ? slot->own_cq : NULL;
  c->start_ns = shimkit__now_ns();
  atomic_init(&c->close_done, false);
  shimkit__server_call_started(srv, c->cq != NULL);

  grpc_byte_buffer *response_bb = NULL;
  bool runs_handler = slot->method->desc != NULL || srv->raw_fn != NULL || srv->has_forwarder;
  if (runs_handler) {
    if (c->cq != NULL) {
      shimkit__pool_busy_long(srv); /* a stream or raw call holds its worker: cover at once */
    } else {
      shimkit__pool_busy(srv);
    }
  }
  if (c->cq == NULL) {
    atomic_store(&slot->pending, 1); /* this thread's reference, dropped after the final batch started */
  }
  shimkit_code code = handle(c, &response_bb);
  if (c->forwarding) {
    /* forward.c's batches hold the call from here on, and other workers may
     * already handle its events: this thread touches it no more. */
    if (runs_handler) {
      shimkit__pool_idle(srv);
    }
    async_unref(slot);
    return;
  }
  if (runs_handler && c->cq == NULL) {
    shimkit__pool_idle(srv); /* a unary handler is over; a stream still waits for its batches here */
  }
  const char *message = status_text(c, code);

  if (c->cq == NULL) {
    slot->code = code;
    slot->message = message;
    if (slot->payload != NULL) {
      grpc_byte_buffer_destroy(slot->payload); /* a request never decoded (out of memory) */
    }
    slot->payload = response_bb; /* kept until the batch completed */
    if (!c->broken) {
      shimkit__call_send_status(c, code, message, response_bb);
    }
    async_unref(slot);
    return;
  }

  if (!c->broken && !c->status_sent) {
    shimkit__call_send_status(c, code, message, response_bb);
  }
  if (response_bb != NULL) {
    grpc_byte_buffer_destroy(response_bb);
  }
  /* The close event belongs to this call: take it before the queue serves another. */
  while (c->close_started && !atomic_load(&c->close_done)) {
    grpc_event ev = grpc_completion_queue_pluck(c->cq, SHIMKIT__TAG_CLOSE(c), gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) {
      break;
    }
    atomic_store(&c->close_done, true);
  }
  finish(c, code, message);
  if (runs_handler) {
    shimkit__pool_idle(srv);
  }
}

void shimkit__call_event(shimkit_server *srv, const shimkit__tag *tag, bool ok) {
  shimkit__slot *slot = tag->slot;
  switch (tag->kind) {
  case SHIMKIT__TAG_KIND_REQUEST:
    if (!ok || slot->core == NULL) {
      shimkit__slot_release(srv, slot); /* the server is shutting down */
      return;
    }
    shimkit__requests_post(srv, slot->method); /* keep the same number waiting */
    start_call(srv, slot);
    return;
  case SHIMKIT__TAG_KIND_FINAL:
    if (!ok) {
      slot->call.broken = true;
    }
    async_unref(slot);
    return;
  case SHIMKIT__TAG_KIND_CLOSE: {
    atomic_store(&slot->call.close_done, true);
    shimkit__fwd *f = atomic_load(&slot->fwd);
    if (f != NULL) {
      shimkit__fwd_closed(f); /* a client that went away cancels the backend call */
    }
    async_unref(slot);
    return;
  }
  default:
    shimkit__fwd_event(slot, tag->kind, ok);
    return;
  }
}
