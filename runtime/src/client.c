/*
 * client.c - blocking client calls: shimkit_unary_call and the streaming
 * shimkit_client_call handle that generated stubs wrap.
 *
 * Each call owns a pluck completion queue, so a blocking operation waits for
 * exactly its own tag and calls on one channel never wait for each other.
 * A unary call is one batch with all six operations. A streaming call starts
 * two batches at once and keeps them open: {send initial metadata, receive
 * initial metadata} and {receive status}; send/close/recv are one batch each,
 * plucked before they return. When recv meets the end of the stream the
 * trailers are in, so it plucks the status too and reads -1 for a stream
 * that ended in an error. finish() closes the send side and reads off any
 * unread messages (the core hands out the status only after the last
 * message was taken), then plucks what is still open and reports.
 *
 * The status: the server's code and message, with grpc-status-details-bin
 * as details; a failure found here (a response that does not decode) wins
 * over the wire's OK and reads INTERNAL. Out-pointers given in the options
 * are cleared and refilled, so one shimkit_status ({0}-initialised) or one
 * metadata list can be reused across calls without leaking.
 *
 * send and recv touch disjoint fields, so one thread may send while another
 * receives (a bidi call); cancel may come from any thread. Raw calls
 * (shimkit/raw.h, for proxies) are the same calls with method == NULL: a
 * path, and message bytes instead of protobuf-c messages.
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "shimkit/client.h"
#include "shimkit/log.h"
#include "shimkit/raw.h"

/* Tags; each call has its own queue, so small integers are unique enough. */
#define TAG_START ((void *)(uintptr_t)1)
#define TAG_STATUS ((void *)(uintptr_t)2)
#define TAG_SEND ((void *)(uintptr_t)3)
#define TAG_CLOSE ((void *)(uintptr_t)4)
#define TAG_RECV ((void *)(uintptr_t)5)
#define TAG_UNARY ((void *)(uintptr_t)6)

#define STATUS_DETAILS_KEY "grpc-status-details-bin"

struct shimkit_client_call {
  const shimkit_method_desc *method; /* what is being called (static, generated); NULL = raw */
  const char *path;                  /* its path: method->path, or raw_path */
  char *raw_path;                    /* heap copy of a raw call's path */
  grpc_completion_queue *cq;         /* pluck queue, this call only */
  grpc_call *core;                   /* the core call; NULL when creation failed */

  grpc_metadata *send_md; /* request metadata; slices live until the start batch completes */
  size_t n_send_md;       /* entries in send_md */

  grpc_metadata_array initial_md;  /* response headers (elements owned by core) */
  grpc_metadata_array trailing_md; /* response trailers (elements owned by core) */
  grpc_status_code status;         /* status from RECV_STATUS_ON_CLIENT */
  grpc_slice status_details;       /* its message */
  const char *error_string;        /* core's debug string, gpr_free'd */

  bool start_pending;  /* start batch open, to pluck in finish */
  bool status_pending; /* status batch open, to pluck at the end of the stream or in finish */
  bool send_closed;    /* close_send done (send side only) */
  bool send_failed;    /* a send failed: the call has ended (send side only) */
  bool recv_pending;   /* a RECV_MESSAGE is in flight (left by recv_poll), into recv_bb */
  grpc_byte_buffer *recv_bb; /* its target */
  bool recv_done;      /* end of stream seen (recv side only) */
  bool recv_failed;    /* a receive failed or did not decode (recv side only) */
  bool headers_failed; /* raw: the start batch failed (recv side only) */

  shimkit_code local_code;    /* a failure found here (bad response bytes), overrides the wire */
  char *local_message;        /* its message, heap */
  gpr_timespec deadline;      /* the call's deadline (monotonic; infinite for none) */
  atomic_bool cancelled_here; /* shimkit_client_call_cancel() was called (any thread) */

  shimkit_metadata *initial_out;  /* caller's, filled at finish */
  shimkit_metadata *trailing_out; /* caller's, filled at finish */
  shimkit_status *status_out;     /* caller's, filled at finish */
  ProtobufCAllocator *allocator;  /* caller's, for decoding responses; NULL = protobuf-c's default */
};

/* ---- small helpers ----------------------------------------------------------- */

static gpr_timespec deadline_from(const shimkit_call_options *opts) {
  if (opts == NULL || opts->timeout_ms == 0) {
    return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  }
  int64_t ms = opts->timeout_ms < 0 ? 0 : opts->timeout_ms;
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static void set_local(shimkit_client_call *c, shimkit_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static char *copy_string(const char *s);

/* Records the first local failure of the call (later ones are consequences). */
static void set_local(shimkit_client_call *c, shimkit_code code, const char *fmt, ...) {
  if (c->local_code != SHIMKIT_OK) {
    return;
  }
  c->local_code = code;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  c->local_message = copy_string(buf);
}

static char *copy_string(const char *s) {
  size_t n = strlen(s);
  char *out = malloc(n + 1);
  if (out != NULL) {
    memcpy(out, s, n + 1);
  }
  return out;
}

static char *slice_strdup(grpc_slice s) {
  size_t n = GRPC_SLICE_LENGTH(s);
  char *out = malloc(n + 1);
  if (out != NULL) {
    memcpy(out, GRPC_SLICE_START_PTR(s), n);
    out[n] = '\0';
  }
  return out;
}

/* Waits for tag on the call's own queue; returns the op's success flag. */
static int pluck(shimkit_client_call *c, void *tag) {
  grpc_event ev = grpc_completion_queue_pluck(c->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  return ev.type == GRPC_OP_COMPLETE && ev.success;
}

/* Packs a message into a byte buffer the core takes; NULL when out of memory. */
static grpc_byte_buffer *pack(const ProtobufCMessage *msg) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  grpc_slice s = grpc_slice_malloc(n);
  protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}

/* Decodes a received byte buffer as desc with alloc (NULL: protobuf-c's default); NULL when it does not decode. */
static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb,
                                ProtobufCAllocator *alloc) {
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, bb)) {
    return NULL;
  }
  grpc_slice all = grpc_byte_buffer_reader_readall(&r);
  grpc_byte_buffer_reader_destroy(&r);
  ProtobufCMessage *m =
      protobuf_c_message_unpack(desc, alloc, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
  grpc_slice_unref(all);
  return m;
}

/* Copies core metadata into a caller's list (cleared first). */
static void copy_metadata(shimkit_metadata *out, const grpc_metadata_array *in) {
  if (out == NULL) {
    return;
  }
  shimkit_metadata_clear(out);
  for (size_t i = 0; i < in->count; i++) {
    char *key = slice_strdup(in->metadata[i].key);
    if (key == NULL) {
      continue;
    }
    shimkit_metadata_add(out, key, GRPC_SLICE_START_PTR(in->metadata[i].value),
                         GRPC_SLICE_LENGTH(in->metadata[i].value));
    free(key);
  }
}

/* Fills a caller's status: code, message and grpc-status-details-bin. */
static void fill_status(shimkit_status *out, shimkit_code code, const char *message,
                        const grpc_metadata_array *trailing) {
  if (out == NULL) {
    return;
  }
  shimkit_status_clear(out);
  out->code = code;
  if (message != NULL && message[0] != '\0') {
    out->message = copy_string(message);
  }
  for (size_t i = 0; trailing != NULL && i < trailing->count; i++) {
    const grpc_slice *k = &trailing->metadata[i].key;
    if (GRPC_SLICE_LENGTH(*k) == strlen(STATUS_DETAILS_KEY) &&
        memcmp(GRPC_SLICE_START_PTR(*k), STATUS_DETAILS_KEY, GRPC_SLICE_LENGTH(*k)) == 0) {
      const grpc_slice *v = &trailing->metadata[i].value;
      size_t n = GRPC_SLICE_LENGTH(*v);
      out->details = malloc(n > 0 ? n : 1);
      if (out->details != NULL) {
        memcpy(out->details, GRPC_SLICE_START_PTR(*v), n);
        out->details_len = n;
      }
      break;
    }
  }
}

/* Reports a call that never reached the wire. */
static shimkit_code fail_early(const shimkit_call_options *opts, shimkit_code code, const char *message) {
  if (opts != NULL) {
    if (opts->initial_out != NULL) {
      shimkit_metadata_clear(opts->initial_out);
    }
    if (opts->trailing_out != NULL) {
      shimkit_metadata_clear(opts->trailing_out);
    }
    fill_status(opts->status_out, code, message, NULL);
  }
  return code;
}

/* ---- call set-up and tear-down ---------------------------------------------- */

static void destroy(shimkit_client_call *c) {
  if (c == NULL) {
    return;
  }
  if (c->core != NULL) {
    grpc_call_unref(c->core);
  }
  if (c->cq != NULL) {
    grpc_completion_queue_shutdown(c->cq);
    while (grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(c->cq);
  }
  if (c->recv_bb != NULL) {
    grpc_byte_buffer_destroy(c->recv_bb); /* a polled read that completed after the last poll */
  }
  for (size_t i = 0; i < c->n_send_md; i++) {
    grpc_slice_unref(c->send_md[i].key);
    grpc_slice_unref(c->send_md[i].value);
  }
  free(c->send_md);
  grpc_metadata_array_destroy(&c->initial_md);
  grpc_metadata_array_destroy(&c->trailing_md);
  grpc_slice_unref(c->status_details);
  gpr_free((void *)c->error_string);
  free(c->local_message);
  free(c->raw_path);
  free(c);
}

/*
 * Validates the arguments and creates the core call. On failure returns NULL
 * and sets *code and *why (static strings).
 */
static shimkit_client_call *create(shimkit_channel *channel, const shimkit_method_desc *method,
                                   const char *raw_path, const shimkit_call_options *opts, shimkit_code *code,
                                   const char **why) {
  *code = SHIMKIT_INVALID_ARGUMENT;
  if (raw_path != NULL ? (channel == NULL || raw_path[0] != '/')
                       : (channel == NULL || method == NULL || method->path == NULL || method->request == NULL ||
                          method->response == NULL)) {
    *why = "client call needs a channel and a method descriptor (or a /service/method path)";
    return NULL;
  }
  *code = SHIMKIT_RESOURCE_EXHAUSTED;
  *why = "out of memory starting a client call";
  shimkit_client_call *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    return NULL;
  }
  c->method = method;
  c->path = method != NULL ? method->path : NULL;
  if (raw_path != NULL) {
    c->raw_path = copy_string(raw_path);
    c->path = c->raw_path;
    if (c->path == NULL) {
      destroy(c);
      return NULL;
    }
  }
  c->deadline = deadline_from(opts);
  atomic_init(&c->cancelled_here, false);
  c->status_details = grpc_empty_slice();
  grpc_metadata_array_init(&c->initial_md);
  grpc_metadata_array_init(&c->trailing_md);
  if (opts != NULL) {
    c->initial_out = opts->initial_out;
    c->trailing_out = opts->trailing_out;
    c->status_out = opts->status_out;
    c->allocator = opts->allocator;
  }

  size_t n = opts != NULL ? shimkit_metadata_count(opts->metadata) : 0;
  if (n > 0) {
    c->send_md = calloc(n, sizeof(*c->send_md));
    if (c->send_md == NULL) {
      destroy(c);
      return NULL;
    }
    for (size_t i = 0; i < n; i++) {
      const char *key;
      const char *value;
      size_t len;
      if (shimkit_metadata_at(opts->metadata, i, &key, &value, &len) != 0) {
        continue;
      }
      c->send_md[c->n_send_md].key = grpc_slice_from_copied_string(key);
      c->send_md[c->n_send_md].value = grpc_slice_from_copied_buffer(value, len);
      c->n_send_md++;
    }
  }

  c->cq = grpc_completion_queue_create_for_pluck(NULL);
  if (c->cq == NULL) {
    destroy(c);
    return NULL;
  }
  c->core = grpc_channel_create_call(channel->core, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                     grpc_slice_from_static_string(c->path), NULL, c->deadline, NULL);
  if (c->core == NULL) {
    *code = SHIMKIT_INTERNAL;
    *why = "gRPC could not create the call";
    destroy(c);
    return NULL;
  }
  *code = SHIMKIT_OK;
  *why = NULL;
  return c;
}

/* Maps a refused batch to a status; the batch's tag never completes. */
static shimkit_code batch_error(grpc_call_error err, const char **why) {
  if (err == GRPC_CALL_ERROR_INVALID_METADATA) {
    *why = "request metadata is not valid for gRPC (key or value)";
    return SHIMKIT_INVALID_ARGUMENT;
  }
  *why = "gRPC refused the call's operations";
  return SHIMKIT_INTERNAL;
}

/* Moves the call's results to the caller's out-pointers; returns the code. */
static shimkit_code report(shimkit_client_call *c) {
  shimkit_code code = (shimkit_code)c->status;
  if ((int)c->status < 0 || (int)c->status > (int)SHIMKIT_UNAUTHENTICATED) {
    code = SHIMKIT_UNKNOWN;
  }
  char *message = NULL;
  if (c->local_code != SHIMKIT_OK) {
    code = c->local_code;
  } else {
    message = slice_strdup(c->status_details);
  }
  /* When the server's copy of the deadline fires before ours, it resets the
   * stream and the core reads that as CANCELLED; it is still our deadline. */
  if (code == SHIMKIT_CANCELLED && c->local_code == SHIMKIT_OK && !atomic_load(&c->cancelled_here) &&
      gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), c->deadline) >= 0) {
    code = SHIMKIT_DEADLINE_EXCEEDED;
    free(message);
    message = copy_string("Deadline Exceeded");
  }
  if (code != SHIMKIT_OK && c->error_string != NULL) {
    shimkit_log(SHIMKIT_LOG_DEBUG, "client", "%s: %s (%s)", c->path, shimkit_code_name(code),
                c->error_string);
  }
  copy_metadata(c->initial_out, &c->initial_md);
  copy_metadata(c->trailing_out, &c->trailing_md);
  fill_status(c->status_out, code, c->local_code != SHIMKIT_OK ? c->local_message : message, &c->trailing_md);
  free(message);
  return code;
}

/* ---- unary ------------------------------------------------------------------- */

shimkit_code shimkit_unary_call(shimkit_channel *channel, const shimkit_method_desc *method,
                                const ProtobufCMessage *request, ProtobufCMessage **response,
                                const shimkit_call_options *opts) {
  if (response != NULL) {
    *response = NULL;
  }
  if (response == NULL || request == NULL || method == NULL || request->descriptor != method->request) {
    return fail_early(opts, SHIMKIT_INVALID_ARGUMENT,
                      "unary call needs a request of the method's input type and a response pointer");
  }
  shimkit_code code;
  const char *why;
  shimkit_client_call *c = create(channel, method, NULL, opts, &code, &why);
  if (c == NULL) {
    return fail_early(opts, code, why);
  }
  grpc_byte_buffer *req = pack(request);
  grpc_byte_buffer *resp = NULL;
  grpc_op ops[6];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = c->n_send_md;
  ops[0].data.send_initial_metadata.metadata = c->send_md;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = req;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &resp;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing_md;
  ops[5].data.recv_status_on_client.status = &c->status;
  ops[5].data.recv_status_on_client.status_details = &c->status_details;
  ops[5].data.recv_status_on_client.error_string = &c->error_string;
  grpc_call_error err = grpc_call_start_batch(c->core, ops, 6, TAG_UNARY, NULL);
  if (err != GRPC_CALL_OK) {
    grpc_byte_buffer_destroy(req);
    code = batch_error(err, &why);
    destroy(c);
    return fail_early(opts, code, why);
  }
  pluck(c, TAG_UNARY); /* the status op always completes; its value says how */
  grpc_byte_buffer_destroy(req);

  if (c->status == GRPC_STATUS_OK) {
    if (resp == NULL) {
      set_local(c, SHIMKIT_INTERNAL, "%s: server ended the call OK without a response message", method->path);
    } else {
      *response = unpack(method->response, resp, c->allocator);
      if (*response == NULL) {
        set_local(c, SHIMKIT_INTERNAL, "%s: response does not decode as %s", method->path,
                  method->response->name);
      }
    }
  }
  if (resp != NULL) {
    grpc_byte_buffer_destroy(resp);
  }
  code = report(c);
  if (code != SHIMKIT_OK && *response != NULL) {
    protobuf_c_message_free_unpacked(*response, NULL);
    *response = NULL;
  }
  destroy(c);
  return code;
}

/* ---- streaming --------------------------------------------------------------- */

/* Opens the two batches every streaming call keeps open: start and status. */
static void open_stream(shimkit_client_call *c) {
  shimkit_code code;
  const char *why;
  grpc_op ops[2];
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = c->n_send_md;
  ops[0].data.send_initial_metadata.metadata = c->send_md;
  ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[1].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
  grpc_call_error err = grpc_call_start_batch(c->core, ops, 2, TAG_START, NULL);
  if (err != GRPC_CALL_OK) {
    /* Keep the handle: every later operation fails and finish reports why. */
    code = batch_error(err, &why);
    set_local(c, code, "%s: %s", c->path, why);
    grpc_call_cancel(c->core, NULL);
    c->send_failed = true;
    c->recv_failed = true;
  } else {
    c->start_pending = true;
  }
  memset(ops, 0, sizeof(ops));
  ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[0].data.recv_status_on_client.trailing_metadata = &c->trailing_md;
  ops[0].data.recv_status_on_client.status = &c->status;
  ops[0].data.recv_status_on_client.status_details = &c->status_details;
  ops[0].data.recv_status_on_client.error_string = &c->error_string;
  if (grpc_call_start_batch(c->core, ops, 1, TAG_STATUS, NULL) == GRPC_CALL_OK) {
    c->status_pending = true;
  } else {
    set_local(c, SHIMKIT_INTERNAL, "%s: gRPC refused to receive the status", c->path);
    grpc_call_cancel(c->core, NULL);
    c->send_failed = true;
    c->recv_failed = true;
  }
}

shimkit_client_call *shimkit_client_call_start(shimkit_channel *channel, const shimkit_method_desc *method,
                                               const shimkit_call_options *opts) {
  shimkit_code code;
  const char *why;
  shimkit_client_call *c = create(channel, method, NULL, opts, &code, &why);
  if (c == NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "client", "%s: %s",
                method != NULL && method->path != NULL ? method->path : "?", why);
    return NULL;
  }
  open_stream(c);
  return c;
}

shimkit_client_call *shimkit_client_call_start_raw(shimkit_channel *channel, const char *path,
                                                   const shimkit_call_options *opts) {
  shimkit_code code;
  const char *why;
  shimkit_client_call *c = create(channel, NULL, path != NULL ? path : "", opts, &code, &why);
  if (c == NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "client", "%s: %s", path != NULL ? path : "?", why);
    return NULL;
  }
  open_stream(c);
  return c;
}

/* One SEND_MESSAGE of bb (destroyed here). 0 or -1. */
static int send_buffer(shimkit_client_call *call, grpc_byte_buffer *bb) {
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = bb;
  int ok = grpc_call_start_batch(call->core, &op, 1, TAG_SEND, NULL) == GRPC_CALL_OK && pluck(call, TAG_SEND);
  grpc_byte_buffer_destroy(bb);
  if (!ok) {
    call->send_failed = true;
    return -1;
  }
  return 0;
}

int shimkit_client_call_send(shimkit_client_call *call, const ProtobufCMessage *message) {
  if (call == NULL || message == NULL || call->method == NULL || call->send_closed || call->send_failed) {
    return -1;
  }
  if (message->descriptor != call->method->request) {
    shimkit_log(SHIMKIT_LOG_ERROR, "client", "%s: sent a %s, the method takes %s", call->path,
                message->descriptor->name, call->method->request->name);
    return -1;
  }
  return send_buffer(call, pack(message));
}

int shimkit_client_call_send_bytes(shimkit_client_call *call, const void *data, size_t len) {
  if (call == NULL || (data == NULL && len > 0) || call->send_closed || call->send_failed) {
    return -1;
  }
  grpc_slice s = grpc_slice_from_copied_buffer(data, len);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return send_buffer(call, bb);
}

int shimkit_client_call_close_send(shimkit_client_call *call) {
  if (call == NULL || call->send_failed) {
    return -1;
  }
  if (call->send_closed) {
    return 0;
  }
  call->send_closed = true;
  grpc_op op;
  memset(&op, 0, sizeof(op));
  op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  if (grpc_call_start_batch(call->core, &op, 1, TAG_CLOSE, NULL) != GRPC_CALL_OK || !pluck(call, TAG_CLOSE)) {
    call->send_failed = true;
    return -1;
  }
  return 0;
}

/*
 * One RECV_MESSAGE: 1 with *bb, 0 at the end of the stream, -1 when it
 * failed; with wait false, SHIMKIT_RECV_PENDING when it has not completed
 * yet (it stays in flight for the next call).
 */
static int recv_raw_ex(shimkit_client_call *call, grpc_byte_buffer **bb, bool wait) {
  *bb = NULL;
  if (call->recv_done) {
    return 0;
  }
  if (call->recv_failed) {
    return -1;
  }
  bool ok = true;
  if (!call->recv_pending) {
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &call->recv_bb;
    call->recv_bb = NULL;
    ok = grpc_call_start_batch(call->core, &op, 1, TAG_RECV, NULL) == GRPC_CALL_OK;
    call->recv_pending = ok;
  }
  if (ok) {
    gpr_timespec until = wait ? gpr_inf_future(GPR_CLOCK_REALTIME) : gpr_time_0(GPR_CLOCK_REALTIME);
    grpc_event ev = grpc_completion_queue_pluck(call->cq, TAG_RECV, until, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
      return SHIMKIT_RECV_PENDING;
    }
    call->recv_pending = false;
    ok = ev.type == GRPC_OP_COMPLETE && ev.success;
  }
  *bb = call->recv_bb;
  call->recv_bb = NULL;
  if (!ok) {
    if (*bb != NULL) {
      grpc_byte_buffer_destroy(*bb);
      *bb = NULL;
    }
    call->recv_failed = true;
    return -1;
  }
  if (*bb == NULL) {
    call->recv_done = true;
    return 0;
  }
  return 1;
}

static int recv_raw(shimkit_client_call *call, grpc_byte_buffer **bb) {
  return recv_raw_ex(call, bb, true);
}

/* The trailers are in, so the status is at hand: a stream that ended with
 * an error (deadline, server error) reads -1, not a clean end. */
static int end_of_stream(shimkit_client_call *call) {
  if (call->status_pending) {
    pluck(call, TAG_STATUS);
    call->status_pending = false;
  }
  return call->status == GRPC_STATUS_OK && call->local_code == SHIMKIT_OK ? 0 : -1;
}

int shimkit_client_call_recv_bytes(shimkit_client_call *call, uint8_t **data, size_t *len) {
  if (data == NULL || len == NULL) {
    return -1;
  }
  *data = NULL;
  *len = 0;
  if (call == NULL) {
    return -1;
  }
  grpc_byte_buffer *bb;
  int rc = recv_raw(call, &bb);
  if (rc == 0) {
    return end_of_stream(call);
  }
  if (rc != 1) {
    return rc;
  }
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, bb)) {
    grpc_byte_buffer_destroy(bb);
    set_local(call, SHIMKIT_INTERNAL, "%s: response could not be decompressed", call->path);
    call->recv_failed = true;
    return -1;
  }
  grpc_slice all = grpc_byte_buffer_reader_readall(&r);
  grpc_byte_buffer_reader_destroy(&r);
  grpc_byte_buffer_destroy(bb);
  size_t n = GRPC_SLICE_LENGTH(all);
  *data = malloc(n > 0 ? n : 1);
  if (*data == NULL) {
    grpc_slice_unref(all);
    set_local(call, SHIMKIT_RESOURCE_EXHAUSTED, "%s: out of memory receiving a response", call->path);
    grpc_call_cancel(call->core, NULL);
    call->recv_failed = true;
    return -1;
  }
  memcpy(*data, GRPC_SLICE_START_PTR(all), n);
  *len = n;
  grpc_slice_unref(all);
  return 1;
}

int shimkit_client_call_headers(shimkit_client_call *call, shimkit_metadata *out) {
  if (call == NULL) {
    return -1;
  }
  if (call->start_pending) {
    int ok = pluck(call, TAG_START);
    call->start_pending = false;
    call->headers_failed = !ok; /* the call died before headers came */
  }
  if (out != NULL) {
    copy_metadata(out, &call->initial_md);
  }
  return call->headers_failed ? -1 : 0;
}

static int recv_message(shimkit_client_call *call, ProtobufCMessage **message, bool wait) {
  if (message != NULL) {
    *message = NULL;
  }
  if (call == NULL || message == NULL || call->method == NULL) {
    return -1;
  }
  grpc_byte_buffer *bb;
  int rc = recv_raw_ex(call, &bb, wait);
  if (rc == 0) {
    return end_of_stream(call);
  }
  if (rc != 1) {
    return rc;
  }
  *message = unpack(call->method->response, bb, call->allocator);
  grpc_byte_buffer_destroy(bb);
  if (*message == NULL) {
    set_local(call, SHIMKIT_INTERNAL, "%s: response does not decode as %s", call->path,
              call->method->response->name);
    grpc_call_cancel_with_status(call->core, GRPC_STATUS_INTERNAL, "response message does not decode", NULL);
    call->recv_failed = true;
    return -1;
  }
  return 1;
}

int shimkit_client_call_recv(shimkit_client_call *call, ProtobufCMessage **message) {
  return recv_message(call, message, true);
}

int shimkit_client_call_recv_poll(shimkit_client_call *call, ProtobufCMessage **message) {
  return recv_message(call, message, false);
}

void shimkit_client_call_cancel(shimkit_client_call *call) {
  if (call != NULL && call->core != NULL) {
    atomic_store(&call->cancelled_here, true);
    grpc_call_cancel(call->core, NULL);
  }
}

shimkit_code shimkit_client_call_finish(shimkit_client_call *call) {
  if (call == NULL) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  /* The server may wait for our half-close, and the core releases the status
   * only once every message was read: do both before waiting for it. */
  if (!call->send_closed && !call->send_failed) {
    shimkit_client_call_close_send(call);
  }
  grpc_byte_buffer *bb;
  while (recv_raw(call, &bb) == 1) {
    grpc_byte_buffer_destroy(bb);
  }
  if (call->start_pending) {
    pluck(call, TAG_START);
    call->start_pending = false;
  }
  if (call->status_pending) {
    pluck(call, TAG_STATUS);
    call->status_pending = false;
  }
  shimkit_code code = report(call);
  destroy(call);
  return code;
}
