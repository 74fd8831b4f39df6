/*
 * worker.c - the threads that take calls and run them to the end.
 *
 * Each worker owns a completion queue. While idle it has exactly one
 * grpc_server_request_call outstanding on it; when a call arrives the worker
 * runs it synchronously (receive, interceptors, handler, send status) and
 * only then asks for the next one, so a slow handler never holds calls that
 * another, idle worker could take. When the server shuts down, the pending
 * request fails; the worker then shuts its own queue down (it holds no call,
 * so nothing can start a batch on it later: grpc-core note 4) and exits.
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

/* Copies what grpc_server_request_call delivered into the arena. false when out of memory. */
static bool take_request(shimkit_call *c, const grpc_call_details *details, const grpc_metadata_array *md) {
  c->method = copy_printable(c->arena, details->method, SHIMKIT__METHOD_PATH_MAX);
  char *peer = grpc_call_get_peer(c->core);
  if (peer != NULL) {
    c->peer = shimkit__arena_strndup(c->arena, peer, strlen(peer));
    gpr_free(peer);
  }
  if (c->method == NULL || c->peer == NULL) {
    return false;
  }
  c->deadline = details->deadline;
  c->n_req_md = md->count;
  if (md->count > 0) {
    c->req_keys = shimkit__arena_alloc(c->arena, md->count * sizeof(char *));
    c->req_values = shimkit__arena_alloc(c->arena, md->count * sizeof(char *));
    c->req_lens = shimkit__arena_alloc(c->arena, md->count * sizeof(size_t));
    if (c->req_keys == NULL || c->req_values == NULL || c->req_lens == NULL) {
      return false;
    }
    for (size_t i = 0; i < md->count; i++) {
      const grpc_metadata *m = &md->metadata[i];
      c->req_keys[i] = shimkit__arena_strndup(c->arena, (const char *)GRPC_SLICE_START_PTR(m->key),
                                              GRPC_SLICE_LENGTH(m->key));
      c->req_values[i] = shimkit__arena_strndup(c->arena, (const char *)GRPC_SLICE_START_PTR(m->value),
                                                GRPC_SLICE_LENGTH(m->value));
      c->req_lens[i] = GRPC_SLICE_LENGTH(m->value);
      if (c->req_keys[i] == NULL || c->req_values[i] == NULL) {
        return false;
      }
    }
  }
  return true;
}

/* Receives and decodes the single request of a unary or server-streaming call. */
static bool receive_request(shimkit_call *c) {
  grpc_byte_buffer *bb = NULL;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &bb;
  if (!shimkit__call_wait_op(c, &op, 1)) {
    if (bb != NULL) {
      grpc_byte_buffer_destroy(bb);
    }
    return false;
  }
  if (bb == NULL) {
    shimkit_call_error(c, SHIMKIT_INVALID_ARGUMENT, "%s expects one request message; none came", c->method);
    c->fail_code = SHIMKIT_INVALID_ARGUMENT;
    return false;
  }
  int rc = shimkit__call_decode(c, bb, c->desc->request, shimkit__arena_allocator(c->arena), &c->request);
  grpc_byte_buffer_destroy(bb);
  return rc == 0;
}

/* Sends initial metadata (unless sent), the response (if any) and the status. */
static void send_status(shimkit_call *c, shimkit_code code, const char *message, grpc_byte_buffer *response) {
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
  shimkit__call_wait_op(c, ops, n);
  if (with_close) {
    c->close_done = true; /* completed with the batch, or never started */
  }
}

#define RECV_FAILED_WHY "larger than max_receive_bytes, cancelled, or connection lost"

/* Runs one call that grpc_server_request_call delivered, to its end. */
static void run_call(shimkit__worker *w, grpc_call *core, const grpc_call_details *details,
                     const grpc_metadata_array *md) {
  shimkit_call *c = &w->call;
  memset(c, 0, sizeof *c);
  c->srv = w->srv;
  c->worker = w;
  c->core = core;
  c->arena = &w->arena;
  c->start_ns = shimkit__now_ns();

  shimkit_code code = SHIMKIT_OK;
  grpc_byte_buffer *response_bb = NULL;
  bool recv_failed = false;

  if (!take_request(c, details, md)) {
    if (c->method == NULL) {
      c->method = "?";
    }
    code = shimkit_call_error(c, SHIMKIT_RESOURCE_EXHAUSTED, "server out of memory");
    goto send;
  }

  bool service_known = false;
  c->service = shimkit__server_find_method(c->srv, c->method, &c->desc, &service_known);
  if (c->desc == NULL) {
    if (service_known) {
      code = shimkit_call_error(c, SHIMKIT_UNIMPLEMENTED, "unknown method %s", c->method);
    } else {
      code = shimkit_call_error(c, SHIMKIT_UNIMPLEMENTED, "unknown service for method %s", c->method);
    }
    shimkit_log(SHIMKIT_LOG_WARN, "server", "%s from %s: UNIMPLEMENTED: no such method", c->method, c->peer);
    goto send;
  }

  const shimkit_method_desc *m = c->desc;
  if (m->kind == SHIMKIT_METHOD_UNARY || m->kind == SHIMKIT_METHOD_SERVER_STREAMING) {
    if (!receive_request(c)) {
      if (c->fail_code != SHIMKIT_OK) {
        code = c->fail_code;
        shimkit_log(SHIMKIT_LOG_WARN, "server", "%s from %s: %s: %s", c->method, c->peer,
                    shimkit_code_name(code), c->status_message != NULL ? c->status_message : "");
      } else {
        /* gRPC itself ended the call: oversized (it enforces max_receive_bytes), cancelled, or gone. */
        code = SHIMKIT_CANCELLED;
        recv_failed = true;
        shimkit_log(SHIMKIT_LOG_INFO, "server", "%s from %s: request message not received (%s)", c->method,
                    c->peer, RECV_FAILED_WHY);
      }
      goto send;
    }
  }

  ProtobufCMessage *response = NULL;
  if (m->kind == SHIMKIT_METHOD_UNARY || m->kind == SHIMKIT_METHOD_CLIENT_STREAMING) {
    response = shimkit__arena_alloc(c->arena, m->response->sizeof_message);
    if (response == NULL) {
      code = shimkit_call_error(c, SHIMKIT_RESOURCE_EXHAUSTED, "server out of memory");
      goto send;
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
    if (shimkit__call_encode(c, response, &response_bb) != 0) {
      code = c->fail_code;
      shimkit_log(SHIMKIT_LOG_ERROR, "server", "%s: %s", c->method, c->status_message);
    }
  }
  if (code != SHIMKIT_OK && !c->broken) {
    shimkit_log(SHIMKIT_LOG_INFO, "server", "%s from %s: %s: %s", c->method, c->peer, shimkit_code_name(code),
                c->status_message != NULL ? c->status_message : shimkit_strerror(code));
  }

send:;
  const char *message = NULL;
  if (code != SHIMKIT_OK) {
    message = c->status_message != NULL ? c->status_message : shimkit_strerror(code);
  }
  if (!c->broken) {
    send_status(c, code, message, response_bb);
  }
  if (response_bb != NULL) {
    grpc_byte_buffer_destroy(response_bb);
  }
  /* The close event belongs to this call: take it before the queue serves another. */
  while (c->close_started && !c->close_done) {
    grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) {
      break;
    }
    if (ev.type == GRPC_OP_COMPLETE && ev.tag == SHIMKIT__TAG_CLOSE(w)) {
      c->close_done = true;
    }
  }
  if (c->broken || c->close_cancelled) {
    /* Log what the client saw: the call ended before (or instead of) our status. */
    if (shimkit_call_time_left_ms(c) <= 0) {
      code = SHIMKIT_DEADLINE_EXCEEDED;
      message = "deadline exceeded before the status was sent";
    } else if (atomic_load(&c->srv->cancelling)) {
      code = SHIMKIT_UNAVAILABLE;
      message = "cancelled by the server's drain";
    } else {
      code = SHIMKIT_CANCELLED;
      message = recv_failed ? "request message not received (" RECV_FAILED_WHY ")"
                            : "cancelled by the client or connection lost";
    }
  }
  if (c->srv->opts.access_log) {
    shimkit__access_log(c, code, message);
  }
  if (c->last_read != NULL) {
    protobuf_c_message_free_unpacked(c->last_read, NULL);
    c->last_read = NULL;
  }
  grpc_call_unref(core);
  shimkit__arena_reset(&w->arena);
  memset(c, 0, sizeof *c);
}

void *shimkit__worker_main(void *arg) {
  shimkit__worker *w = arg;
  shimkit_server *srv = w->srv;
  for (;;) {
    grpc_call *core = NULL;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_call_details_init(&details);
    grpc_metadata_array_init(&md);
    grpc_call_error err =
        grpc_server_request_call(srv->core, &core, &details, &md, w->cq, w->cq, SHIMKIT__TAG_REQUEST(w));
    bool got = false;
    if (err == GRPC_CALL_OK) {
      for (;;) {
        grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
          break;
        }
        if (ev.type == GRPC_OP_COMPLETE && ev.tag == SHIMKIT__TAG_REQUEST(w)) {
          got = ev.success != 0;
          break;
        }
      }
    } else {
      shimkit_log(SHIMKIT_LOG_ERROR, "server", "worker %d: request_call failed (%d)", w->index, (int)err);
    }
    if (got && core != NULL) {
      shimkit__server_call_started(srv);
      run_call(w, core, &details, &md);
      shimkit__server_call_ended(srv);
    }
    grpc_call_details_destroy(&details);
    grpc_metadata_array_destroy(&md);
    if (!got) {
      break; /* the server is shutting down */
    }
  }
  /* No call, no pending request: nothing can use this queue any more. */
  grpc_completion_queue_shutdown(w->cq);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) {
      break;
    }
  }
  return NULL;
}
