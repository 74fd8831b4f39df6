/*
 * call.c - shimkit_call: what a handler can see and do during one call.
 *
 * A call belongs to the thread that runs its handler (server_core.h), so
 * nothing here locks. Calls with a stream own a pluck queue: their batches
 * are synchronous (start one, then pluck its tag), and the call's
 * RECV_CLOSE_ON_SERVER has a tag of its own, plucked when someone asks
 * (close_done). Unary calls are bound to the shared
 * queue and never wait here; their early close event is taken by whichever
 * worker polls (call_run.c). Either way that is how
 * shimkit_call_is_cancelled() learns that the client went away. The close op
 * is started by the first shimkit_call_is_cancelled(), or else rides in the
 * call's final batch: most handlers never ask, and one batch and one queue
 * event fewer per call is measurable.
 */
#define _POSIX_C_SOURCE 200809L
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metadata_internal.h"
#include "server_core.h"
#include "shimkit/call.h"
#include "shimkit/log.h"

int64_t shimkit__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- events on the worker's queue ----------------------------------------- */

bool shimkit__call_wait_op(shimkit_call *c, const grpc_op *ops, size_t n) {
  if (c->broken || c->cq == NULL) {
    return false; /* a unary call never waits: its batches are async (call_run.c) */
  }
  grpc_call_error err = grpc_call_start_batch(c->core, ops, n, SHIMKIT__TAG_OP(c), NULL);
  if (err != GRPC_CALL_OK) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "%s: gRPC refused a batch (call error %d)", c->method, (int)err);
    c->broken = true;
    return false;
  }
  grpc_event ev = grpc_completion_queue_pluck(c->cq, SHIMKIT__TAG_OP(c), gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  c->op_done = true;
  c->op_ok = ev.type == GRPC_OP_COMPLETE && ev.success;
  if (!c->op_ok) {
    c->broken = true;
  }
  return c->op_ok != 0;
}

void shimkit__call_watch_close(shimkit_call *c) {
  if (c->close_started) {
    return;
  }
  c->close_started = true;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &c->close_cancelled;
  void *tag = SHIMKIT__TAG_CLOSE(c);
  if (c->cq == NULL) {
    /* Unary: the event comes on the shared queue, to any worker. */
    tag = &c->slot->tags[SHIMKIT__TAG_KIND_CLOSE];
    atomic_fetch_add(&c->slot->pending, 1);
  }
  if (grpc_call_start_batch(c->core, &op, 1, tag, NULL) != GRPC_CALL_OK) {
    if (c->cq == NULL) {
      atomic_fetch_sub(&c->slot->pending, 1);
    }
    atomic_store(&c->close_done, true); /* nothing will arrive for it */
    c->broken = true;
  }
}

void shimkit__call_poll(shimkit_call *c) {
  shimkit__call_watch_close(c);
  if (c->cq == NULL) {
    return; /* another worker records the close event */
  }
  if (!atomic_load(&c->close_done)) {
    grpc_event ev = grpc_completion_queue_pluck(c->cq, SHIMKIT__TAG_CLOSE(c), gpr_time_0(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_OP_COMPLETE) {
      atomic_store(&c->close_done, true);
    }
  }
}

/* ---- messages -------------------------------------------------------------- */

/*
 * Decodes one received message. Returns 0 with *out set, or -1 with the
 * call's failure set (RESOURCE_EXHAUSTED for too big, INVALID_ARGUMENT for
 * bytes that do not decode, RESOURCE_EXHAUSTED for out of memory).
 */
int shimkit__call_decode(shimkit_call *c, grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
                         ProtobufCAllocator *alloc, ProtobufCMessage **out) {
  size_t max = (size_t)c->srv->opts.max_receive_bytes;
  const uint8_t *data = NULL;
  size_t len = 0;
  uint8_t *copy = NULL;

  if (bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE &&
      bb->data.raw.slice_buffer.count == 1) {
    /* The common case: one uncompressed slice, decoded in place. */
    /* By pointer: a small slice keeps its bytes inline, inside the struct. */
    const grpc_slice *single = &bb->data.raw.slice_buffer.slices[0];
    data = GRPC_SLICE_START_PTR(*single);
    len = GRPC_SLICE_LENGTH(*single);
    if (len > max) {
      goto too_big;
    }
  } else {
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
      shimkit_call_error(c, SHIMKIT_INVALID_ARGUMENT, "request to %s could not be decompressed", c->method);
      c->fail_code = SHIMKIT_INVALID_ARGUMENT;
      return -1;
    }
    size_t cap = 0;
    grpc_slice s;
    bool over = false;
    bool oom = false;
    while (grpc_byte_buffer_reader_next(&reader, &s)) {
      size_t n = GRPC_SLICE_LENGTH(s);
      if (!over && !oom) {
        if (n > max - len) {
          over = true;
        } else {
          if (len + n > cap) {
            size_t ncap = cap == 0 ? 4096 : cap;
            while (ncap < len + n) {
              ncap = ncap > max / 2 ? max : ncap * 2;
            }
            uint8_t *grown = realloc(copy, ncap);
            if (grown == NULL) {
              oom = true;
            } else {
              copy = grown;
              cap = ncap;
            }
          }
          if (!oom && n > 0) {
            memcpy(copy + len, GRPC_SLICE_START_PTR(s), n);
            len += n;
          }
        }
      }
      grpc_slice_unref(s);
    }
    grpc_byte_buffer_reader_destroy(&reader);
    if (over) {
      free(copy);
      goto too_big;
    }
    if (oom) {
      free(copy);
      shimkit_call_error(c, SHIMKIT_RESOURCE_EXHAUSTED, "out of memory reading a request to %s", c->method);
      c->fail_code = SHIMKIT_RESOURCE_EXHAUSTED;
      return -1;
    }
    data = copy;
  }
  c->bytes_in += len;

  ProtobufCMessage *msg = NULL;
  shimkit__wire_verdict verdict = shimkit__wire_check(desc, data, len, SHIMKIT__PROTO_DEPTH_MAX);
  if (verdict == SHIMKIT__WIRE_OK) {
    msg = protobuf_c_message_unpack(desc, alloc, len, data == NULL ? (const uint8_t *)"" : data);
  } else if (verdict == SHIMKIT__WIRE_TOO_DEEP) {
    free(copy);
    shimkit_call_error(c, SHIMKIT_INVALID_ARGUMENT, "request to %s nests messages deeper than %d levels",
                       c->method, SHIMKIT__PROTO_DEPTH_MAX);
    c->fail_code = SHIMKIT_INVALID_ARGUMENT;
    return -1;
  }
  free(copy);
  if (msg == NULL) {
    shimkit_call_error(c, SHIMKIT_INVALID_ARGUMENT, "request to %s (%zu bytes) does not decode as %s",
                       c->method, len, desc->name);
    c->fail_code = SHIMKIT_INVALID_ARGUMENT;
    return -1;
  }
  *out = msg;
  return 0;

too_big:
  shimkit_call_error(c, SHIMKIT_RESOURCE_EXHAUSTED,
                     "request to %s is larger than the server's limit of %zu bytes", c->method, max);
  c->fail_code = SHIMKIT_RESOURCE_EXHAUSTED;
  return -1;
}

/* Packs msg into a new byte buffer. 0, or -1 with the call's failure set. */
int shimkit__call_encode(shimkit_call *c, const ProtobufCMessage *msg, grpc_byte_buffer **out) {
  size_t max = (size_t)c->srv->opts.max_send_bytes;
  size_t size = protobuf_c_message_get_packed_size(msg);
  if (size > max) {
    shimkit_call_error(c, SHIMKIT_RESOURCE_EXHAUSTED,
                       "response of %s is %zu bytes, over the server's limit of %zu bytes", c->method, size,
                       max);
    c->fail_code = SHIMKIT_RESOURCE_EXHAUSTED;
    return -1;
  }
  grpc_slice slice = grpc_slice_malloc(size);
  size_t packed = protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
  if (packed != size) {
    grpc_slice_unref(slice);
    shimkit_call_error(c, SHIMKIT_INTERNAL, "response of %s could not be encoded", c->method);
    c->fail_code = SHIMKIT_INTERNAL;
    return -1;
  }
  *out = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  c->bytes_out += size;
  return 0;
}

/* ---- what the call is -------------------------------------------------------- */

const char *shimkit_call_method(const shimkit_call *call) {
  return call != NULL && call->method != NULL ? call->method : "";
}

const shimkit_method_desc *shimkit_call_method_desc(const shimkit_call *call) {
  return call != NULL ? call->desc : NULL;
}

const char *shimkit_call_peer(const shimkit_call *call) {
  return call != NULL && call->peer != NULL ? call->peer : "";
}

const ProtobufCMessage *shimkit_call_request(const shimkit_call *call) {
  return call != NULL ? call->request : NULL;
}

/* ---- deadline and cancellation --------------------------------------------- */

int64_t shimkit_call_time_left_ms(const shimkit_call *call) {
  if (call == NULL) {
    return 0;
  }
  if (gpr_time_cmp(call->deadline, gpr_inf_future(call->deadline.clock_type)) == 0) {
    return INT64_MAX;
  }
  gpr_timespec now = gpr_now(call->deadline.clock_type);
  gpr_timespec left = gpr_time_sub(call->deadline, now);
  if (left.tv_sec >= INT64_MAX / 1000 - 1) {
    return INT64_MAX;
  }
  return left.tv_sec * 1000 + left.tv_nsec / 1000000;
}

bool shimkit_call_is_cancelled(shimkit_call *call) {
  if (call == NULL || call->broken || atomic_load(&call->srv->cancelling)) {
    return true;
  }
  shimkit__call_poll(call);
  /* RECV_CLOSE completes before our status only when the call died. */
  if (atomic_load(&call->close_done)) {
    return true;
  }
  return shimkit_call_time_left_ms(call) <= 0;
}

/* ---- request metadata ------------------------------------------------------- */

size_t shimkit_call_metadata_count(const shimkit_call *call) {
  return call != NULL ? call->n_req_md : 0;
}

int shimkit_call_metadata_at(const shimkit_call *call, size_t i, const char **key, const char **value,
                             size_t *len) {
  if (call == NULL || i >= call->n_req_md) {
    return -1;
  }
  if (key != NULL) {
    *key = call->req_keys[i];
  }
  if (value != NULL) {
    *value = call->req_values[i];
  }
  if (len != NULL) {
    *len = call->req_lens[i];
  }
  return 0;
}

const char *shimkit_call_metadata_get(const shimkit_call *call, const char *key, size_t *len) {
  if (call == NULL || key == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < call->n_req_md; i++) {
    if (strcmp(call->req_keys[i], key) == 0) {
      if (len != NULL) {
        *len = call->req_lens[i];
      }
      return call->req_values[i];
    }
  }
  return NULL;
}

/* ---- response metadata ------------------------------------------------------ */

static shimkit_code add_md(shimkit_call *c, grpc_metadata **arr, size_t *n, const char *key,
                           const void *value, size_t len) {
  if (!shimkit__metadata_key_valid(key) || shimkit__metadata_key_reserved(key) ||
      !shimkit__metadata_value_valid(key, value, len)) {
    shimkit_log(SHIMKIT_LOG_WARN, "server", "%s: handler metadata %.64s refused: %s", c->method,
                key != NULL ? key : "(null)",
                !shimkit__metadata_key_valid(key)     ? "not a valid header name"
                : shimkit__metadata_key_reserved(key) ? "reserved for gRPC"
                                                      : "value not printable ASCII (use a -bin key)");
    return SHIMKIT_INVALID_ARGUMENT;
  }
  if (*arr == NULL) {
    /* One spare slot for grpc-status-details-bin, added by the runtime. */
    *arr = shimkit__arena_alloc(c->arena, (SHIMKIT__RESPONSE_MD_MAX + 1) * sizeof(grpc_metadata));
    if (*arr == NULL) {
      return SHIMKIT_RESOURCE_EXHAUSTED;
    }
  }
  if (*n == SHIMKIT__RESPONSE_MD_MAX) {
    return SHIMKIT_RESOURCE_EXHAUSTED;
  }
  size_t key_len = strlen(key);
  char *k = shimkit__arena_strndup(c->arena, key, key_len);
  char *v = shimkit__arena_strndup(c->arena, value, len);
  if (k == NULL || v == NULL) {
    return SHIMKIT_RESOURCE_EXHAUSTED;
  }
  grpc_metadata *m = &(*arr)[*n];
  memset(m, 0, sizeof *m);
  /* Static slices: the arena outlives every batch of the call. */
  m->key = grpc_slice_from_static_buffer(k, key_len);
  m->value = grpc_slice_from_static_buffer(v, len);
  (*n)++;
  return SHIMKIT_OK;
}

bool shimkit__call_add_details_trailer(shimkit_call *c) {
  if (c->details == NULL) {
    return true;
  }
  if (c->trail_md == NULL) {
    c->trail_md = shimkit__arena_alloc(c->arena, (SHIMKIT__RESPONSE_MD_MAX + 1) * sizeof(grpc_metadata));
    if (c->trail_md == NULL) {
      return false;
    }
  }
  grpc_metadata *m = &c->trail_md[c->n_trail_md++]; /* the spare slot */
  memset(m, 0, sizeof *m);
  m->key = grpc_slice_from_static_string("grpc-status-details-bin");
  m->value = grpc_slice_from_static_buffer(c->details, c->details_len);
  return true;
}

shimkit_code shimkit_call_add_initial_metadata(shimkit_call *call, const char *key, const void *value,
                                               size_t len) {
  if (call == NULL) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  if (call->initial_md_sent) {
    return SHIMKIT_FAILED_PRECONDITION;
  }
  return add_md(call, &call->init_md, &call->n_init_md, key, value, len);
}

shimkit_code shimkit_call_add_trailing_metadata(shimkit_call *call, const char *key, const void *value,
                                                size_t len) {
  if (call == NULL) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  return add_md(call, &call->trail_md, &call->n_trail_md, key, value, len);
}

/* ---- status ---------------------------------------------------------------- */

shimkit_code shimkit__call_set_message(shimkit_call *c, const char *msg) {
  size_t len = strnlen(msg, SHIMKIT__STATUS_MESSAGE_MAX);
  char *copy = shimkit__arena_strndup(c->arena, msg, len);
  if (copy == NULL) {
    return SHIMKIT_RESOURCE_EXHAUSTED;
  }
  c->status_message = copy;
  return SHIMKIT_OK;
}

shimkit_code shimkit_call_error(shimkit_call *call, shimkit_code code, const char *fmt, ...) {
  if (call == NULL) {
    return code;
  }
  char buf[SHIMKIT__STATUS_MESSAGE_MAX + 1];
  buf[0] = '\0';
  if (fmt != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
  }
  shimkit__call_set_message(call, buf);
  return code;
}

shimkit_code shimkit_call_set_error_details(shimkit_call *call, const void *details, size_t len) {
  if (call == NULL || (details == NULL && len > 0)) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  if (len > SHIMKIT__STATUS_DETAILS_MAX) {
    return SHIMKIT_RESOURCE_EXHAUSTED;
  }
  if (len == 0) {
    call->details = NULL; /* nothing to send */
    call->details_len = 0;
    return SHIMKIT_OK;
  }
  void *copy = shimkit__arena_alloc(call->arena, len);
  if (copy == NULL) {
    return SHIMKIT_RESOURCE_EXHAUSTED;
  }
  memcpy(copy, details, len);
  call->details = copy;
  call->details_len = len;
  return SHIMKIT_OK;
}

/* ---- memory ---------------------------------------------------------------- */

void *shimkit_call_alloc(shimkit_call *call, size_t size) {
  return call != NULL ? shimkit__arena_alloc(call->arena, size) : NULL;
}

char *shimkit_call_strdup(shimkit_call *call, const char *s) {
  if (call == NULL || s == NULL) {
    return NULL;
  }
  return shimkit__arena_strndup(call->arena, s, strlen(s));
}

/* ---- streams ----------------------------------------------------------------- */

int shimkit_call_read(shimkit_call *call, ProtobufCMessage **message) {
  if (call == NULL || message == NULL || call->desc == NULL) {
    return -1;
  }
  *message = NULL;
  if (call->desc->kind != SHIMKIT_METHOD_CLIENT_STREAMING &&
      call->desc->kind != SHIMKIT_METHOD_BIDI_STREAMING) {
    shimkit_log(SHIMKIT_LOG_WARN, "server", "%s: shimkit_call_read on a method without a request stream",
                call->method);
    return -1;
  }
  if (call->last_read != NULL) {
    protobuf_c_message_free_unpacked(call->last_read, NULL);
    call->last_read = NULL;
  }
  if (call->client_done) {
    return 0;
  }
  if (call->broken || call->fail_code != SHIMKIT_OK || atomic_load(&call->srv->cancelling)) {
    return -1;
  }
  grpc_byte_buffer *bb = NULL;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &bb;
  if (!shimkit__call_wait_op(call, &op, 1)) {
    if (bb != NULL) {
      grpc_byte_buffer_destroy(bb);
    }
    return -1;
  }
  if (bb == NULL) {
    call->client_done = true;
    return 0;
  }
  ProtobufCMessage *msg = NULL;
  int rc = shimkit__call_decode(call, bb, call->desc->request, NULL, &msg);
  grpc_byte_buffer_destroy(bb);
  if (rc != 0) {
    shimkit_log(SHIMKIT_LOG_WARN, "server", "%s: %s", call->method,
                call->status_message != NULL ? call->status_message : "bad request message");
    return -1;
  }
  call->last_read = msg;
  *message = msg;
  return 1;
}

/* Sends one message (bb, destroyed here), with the initial metadata first if
 * it has not gone yet, and waits for it: the send shared by typed and raw
 * writes. */
bool shimkit__call_send_buffer(shimkit_call *call, grpc_byte_buffer *bb) {
  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!call->initial_md_sent) {
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].data.send_initial_metadata.count = call->n_init_md;
    ops[n].data.send_initial_metadata.metadata = call->init_md;
    n++;
    call->initial_md_sent = true;
  }
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n].data.send_message.send_message = bb;
  n++;
  bool ok = shimkit__call_wait_op(call, ops, n);
  grpc_byte_buffer_destroy(bb);
  return ok;
}

int shimkit_call_write(shimkit_call *call, const ProtobufCMessage *message) {
  if (call == NULL || message == NULL || call->desc == NULL) {
    return -1;
  }
  if (call->desc->kind != SHIMKIT_METHOD_SERVER_STREAMING &&
      call->desc->kind != SHIMKIT_METHOD_BIDI_STREAMING) {
    shimkit_log(SHIMKIT_LOG_WARN, "server", "%s: shimkit_call_write on a method without a response stream",
                call->method);
    return -1;
  }
  if (message->descriptor != call->desc->response) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "%s: shimkit_call_write got a %s, the method sends %s",
                call->method, message->descriptor != NULL ? message->descriptor->name : "?",
                call->desc->response->name);
    shimkit_call_error(call, SHIMKIT_INTERNAL, "server wrote a message of the wrong type");
    call->fail_code = SHIMKIT_INTERNAL;
    return -1;
  }
  if (call->broken || atomic_load(&call->srv->cancelling)) {
    return -1;
  }
  grpc_byte_buffer *bb = NULL;
  if (shimkit__call_encode(call, message, &bb) != 0) {
    return -1;
  }
  return shimkit__call_send_buffer(call, bb) ? 0 : -1;
}
