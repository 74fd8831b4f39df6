/*
 * forward.c - shimkit/forward.h: calls passed through to a backend channel,
 * driven by gRPC core's events on the server's shared queue.
 *
 * A forwarded call is an async call like a unary one (call_run.c): bound to
 * the shared queue, every batch in flight holds a reference (slot->pending)
 * and the last completion finishes the call. No thread waits for it: each
 * event is handled by whichever worker takes it, under the forward's lock,
 * and then pump() starts whatever has become possible:
 *
 *   client -> backend: one RECV_MESSAGE in flight on the client's call; a
 *     message received is held until the backend's send batch is free, then
 *     goes out (the last one with the half-close), and the next read starts. So
 *     at most one message waits in the router, and a client that sends
 *     nothing until the backend speaks (bidi) is never waited for.
 *   backend -> client: the first receive batch is SEND_INITIAL_METADATA (the
 *     request metadata, so the backend has the call at once) +
 *     RECV_INITIAL_METADATA + RECV_MESSAGE; each message goes to the client with the backend's
 *     headers on the first; the next receive starts as soon as the message
 *     is handed on. RECV_STATUS_ON_CLIENT is in flight from the start.
 *   the end: once the backend's status and its last message are in and
 *     handed on, attempt_done decides (retry or not); the client then gets
 *     the backend's headers (if not sent), trailers, code, message and
 *     details in one batch, without waiting for the last message's send to
 *     complete (gRPC's own test proxy does the same: the transport sends
 *     trailers after the messages before them). RECV_CLOSE_ON_SERVER is in flight from the start
 *     (call.c's close watch): a client that goes away cancels the backend
 *     call, which also has the client's call as its parent in gRPC core
 *     (deadline and cancellation propagate). The watch is needed: without a
 *     RECV_CLOSE_ON_SERVER in flight, core 1.51 does not pass a cancel on
 *     to a unary call waiting for its replica (tried: e2e.router's unary
 *     cancel test fails).
 *
 * A call forwarded this general way costs, for a unary method, on the
 * client's side: the close watch, two reads (the message, the end), one
 * send, the status; on the backend's: metadata with the first receive, the
 * message, the half-close, the status, the read of the end. A call begin
 * plans as unary (shimkit_forward_plan.unary) skips the pump: after the
 * client's one message, one backend batch sends metadata, message and
 * half-close and receives headers, message and status (like a unary
 * client), and one batch sends headers, message and status to the client
 * (like a unary server): the close watch, one read, two batches.
 *
 * Waiting (plan.wait): the call is published (slot->fwd) with its close
 * watch in flight and put on the server's parked list; nothing else starts
 * (pump does nothing while f->waiting). The close watch's reference keeps
 * it alive. Three things take it off the list: its close event (client
 * gone, deadline, drain: the call fails, end runs), and
 * shimkit_server_forward_resume(), which takes the whole list (with a
 * reference per call, so none is freed under it) and runs begin again for
 * each. A call records resume_gen before begin looks; when parking, a
 * changed resume_gen means a resume ran meanwhile (maybe the one that
 * should have let it go), so begin runs again at once instead: no wake-up
 * is lost. Lock order: a forward's lock, then srv->park_lock.
 *
 * Retries: while the backend has not answered (no headers, no message) the
 * request messages sent are kept (by reference: copies of byte buffers
 * share their slices) up to SHIMKIT_FORWARD_REPLAY_*; a new attempt replays
 * them in order before anything newer.
 */
#define _POSIX_C_SOURCE 200809L
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "server_core.h"
#include "shimkit/forward.h"
#include "shimkit/log.h"

#define MAX_ATTEMPTS 8 /* backend calls one forwarded call may make */

/* One backend call. */
typedef struct attempt {
  grpc_call *core;               /* NULL when it could not be created */
  grpc_metadata_array headers;   /* response headers (owned by core) */
  grpc_metadata_array trailers;  /* response trailers (owned by core) */
  grpc_status_code status;       /* its status */
  grpc_slice details;            /* its status message */
  const char *error_string;      /* core's debug string (gpr_free) */
} attempt;

struct shimkit__fwd {
  pthread_mutex_t lock; /* guards everything below; hooks run under it */
  shimkit_call *c;      /* the client's call */
  void *state;          /* begin's */
  grpc_metadata *req_md; /* request metadata for the backend (arena) */
  size_t n_req_md;
  bool read_first; /* begin asked for the first message before choose */
  bool unary;      /* begin planned a unary call: one batch each way (start_unary) */
  grpc_byte_buffer *u_resp; /* unary: the backend's response message, sent with the status */
  bool chosen;     /* choose ran */
  bool waiting;    /* begin asked to wait: parked (or being resumed), nothing starts */
  bool in_list;    /* on srv->parked (under park_lock) */
  shimkit__fwd *park_prev, *park_next; /* srv->parked links (under park_lock) */
  uint64_t gen;    /* srv->resume_gen when begin last looked */
  bool final;      /* the status to the client is decided: nothing new starts */

  /* client side */
  bool s_recv_pending;         /* RECV_MESSAGE in flight */
  grpc_byte_buffer *s_recv_bb; /* its target */
  bool client_done;            /* the client half-closed */
  bool client_gone;            /* cancelled, deadline, connection lost */
  grpc_byte_buffer *req_held;  /* received, not yet given to the backend */
  bool s_send_pending;         /* SEND_MESSAGE in flight */
  grpc_byte_buffer *s_send_bb; /* its message */
  grpc_byte_buffer *resp_held; /* from the backend, not yet sent to the client */

  /* backend side: the current attempt is att[n_att - 1] */
  attempt att[MAX_ATTEMPTS];
  int n_att;
  bool b_live;                 /* the current attempt has not ended */
  bool b_md_sent;              /* its initial metadata went out */
  bool b_send_pending;         /* a send batch in flight */
  bool b_send_dead;            /* a send failed: the backend call is over */
  bool b_closed;               /* its half-close went out */
  grpc_byte_buffer *b_send_bb; /* the message of the send in flight */
  bool b_recv_pending;         /* a receive batch in flight */
  bool b_recv_headers;         /* the receive in flight carries RECV_INITIAL_METADATA */
  bool b_recv_done;            /* the backend's last message was read */
  grpc_byte_buffer *b_recv_bb; /* its target */
  bool b_status_pending;       /* RECV_STATUS_ON_CLIENT in flight */
  bool answered;               /* the backend sent headers or a message */

  /* replay */
  grpc_byte_buffer *kept[SHIMKIT_FORWARD_REPLAY_MSGS]; /* request messages sent (while replayable) */
  int n_kept;
  size_t kept_bytes;
  bool replayable;   /* every request message sent is in kept */
  int replay_next;   /* kept[0..replay_next) went to the current attempt */
};

shimkit_code shimkit_server_set_forwarder(shimkit_server *srv, const shimkit_forwarder *fwd, void *user_data) {
  if (srv == NULL || fwd == NULL || fwd->begin == NULL || fwd->choose == NULL || fwd->attempt_done == NULL ||
      fwd->end == NULL) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  if (srv->state != SHIMKIT__SERVER_NEW || srv->started) {
    return SHIMKIT_FAILED_PRECONDITION;
  }
  srv->forwarder = *fwd;
  srv->forwarder_user_data = user_data;
  srv->has_forwarder = true;
  srv->raw_fn = NULL;
  return SHIMKIT_OK;
}

/* ---- small helpers ------------------------------------------------------------ */

static bool slice_is(grpc_slice s, const char *text) {
  size_t n = strlen(text);
  return GRPC_SLICE_LENGTH(s) == n && memcmp(GRPC_SLICE_START_PTR(s), text, n) == 0;
}

static bool slice_starts(grpc_slice s, const char *prefix) {
  size_t n = strlen(prefix);
  return GRPC_SLICE_LENGTH(s) >= n && memcmp(GRPC_SLICE_START_PTR(s), prefix, n) == 0;
}

/* Keys gRPC sets on each hop itself. */
static bool reserved_key(grpc_slice key) {
  return GRPC_SLICE_LENGTH(key) == 0 || GRPC_SLICE_START_PTR(key)[0] == ':' || slice_starts(key, "grpc-") ||
         slice_is(key, "te") || slice_is(key, "content-type") || slice_is(key, "user-agent");
}

/* Starts a batch whose completion comes back as kind; false when core refused it. */
static bool start(shimkit__fwd *f, grpc_call *core, const grpc_op *ops, size_t n, shimkit__tag_kind kind) {
  shimkit__slot *slot = f->c->slot;
  atomic_fetch_add(&slot->pending, 1);
  grpc_call_error err = grpc_call_start_batch(core, ops, n, &slot->tags[kind], NULL);
  if (err != GRPC_CALL_OK) {
    atomic_fetch_sub(&slot->pending, 1); /* the caller still holds its own reference */
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "%s: gRPC refused a forwarding batch (%d, kind %d)", f->c->method,
                (int)err, (int)kind);
    return false;
  }
  return true;
}

/* The op that sends initial metadata (md, n entries). */
static void op_send_md(grpc_op *op, const grpc_metadata *md, size_t n) {
  op->op = GRPC_OP_SEND_INITIAL_METADATA;
  op->data.send_initial_metadata.count = n;
  op->data.send_initial_metadata.metadata = (grpc_metadata *)md;
}

/* The op that receives attempt a's status, trailers and message. */
static void op_recv_status(grpc_op *op, attempt *a) {
  op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  op->data.recv_status_on_client.trailing_metadata = &a->trailers;
  op->data.recv_status_on_client.status = &a->status;
  op->data.recv_status_on_client.status_details = &a->details;
  op->data.recv_status_on_client.error_string = &a->error_string;
}

static attempt *current(shimkit__fwd *f) {
  return f->n_att > 0 ? &f->att[f->n_att - 1] : NULL;
}

static void forget_kept(shimkit__fwd *f) {
  for (int i = 0; i < f->n_kept; i++) {
    grpc_byte_buffer_destroy(f->kept[i]);
  }
  f->n_kept = 0;
  f->kept_bytes = 0;
  f->replay_next = 0;
  f->replayable = false;
}

/* A message about to go to the backend for the first time: kept for a replay while that is possible. */
static void keep(shimkit__fwd *f, grpc_byte_buffer *bb) {
  if (!f->replayable) {
    return;
  }
  size_t len = grpc_byte_buffer_length(bb);
  if (f->n_kept < SHIMKIT_FORWARD_REPLAY_MSGS && len <= SHIMKIT_FORWARD_REPLAY_BYTES - f->kept_bytes) {
    f->kept[f->n_kept++] = grpc_byte_buffer_copy(bb);
    f->kept_bytes += len;
    f->replay_next = f->n_kept;
  } else {
    forget_kept(f);
  }
}

static void cancel_backend(shimkit__fwd *f) {
  attempt *a = current(f);
  if (f->b_live && a != NULL && a->core != NULL) {
    grpc_call_cancel(a->core, NULL);
  }
}

/* Filtered copy (into the call's arena) of md without gRPC's reserved keys;
 * keep_details keeps grpc-status-details-bin. Entries share md's slices. */
static grpc_metadata *pass_md(shimkit_call *c, const grpc_metadata_array *md, bool keep_details, size_t *n) {
  *n = 0;
  if (md->count == 0) {
    return NULL;
  }
  grpc_metadata *out = shimkit__arena_alloc(c->arena, md->count * sizeof *out);
  if (out == NULL) {
    return NULL;
  }
  for (size_t i = 0; i < md->count; i++) {
    grpc_slice key = md->metadata[i].key;
    if (!reserved_key(key) || (keep_details && slice_is(key, "grpc-status-details-bin"))) {
      memset(&out[*n], 0, sizeof out[*n]);
      out[*n].key = key;
      out[*n].value = md->metadata[i].value;
      (*n)++;
    }
  }
  return out;
}

/* ---- the end -------------------------------------------------------------------- */

/*
 * Sends the status to the client: code and message (arena or static), with
 * initial metadata if none went out yet (init, n_init) and trailers. Calls
 * the end hook. Nothing starts after this but the reads already in flight.
 */
static void send_final(shimkit__fwd *f, shimkit_code code, const char *message, const grpc_metadata *init,
                       size_t n_init, const grpc_metadata *trail, size_t n_trail) {
  shimkit_call *c = f->c;
  shimkit__slot *slot = c->slot;
  f->final = true;
  if (message != NULL && message[0] != '\0') {
    shimkit__call_set_message(c, message);
  }
  slot->code = code;
  slot->message = code == SHIMKIT_OK ? NULL : (c->status_message != NULL ? c->status_message : shimkit_strerror(code));
  grpc_byte_buffer *resp = f->u_resp;
  f->u_resp = NULL;
  if (resp != NULL && (c->broken || grpc_byte_buffer_length(resp) > (size_t)c->srv->opts.max_send_bytes)) {
    if (!c->broken) {
      shimkit_log(SHIMKIT_LOG_WARN, "server", "%s: response message of %zu bytes over the limit", c->method,
                  grpc_byte_buffer_length(resp));
      code = SHIMKIT_RESOURCE_EXHAUSTED;
      slot->code = code;
      slot->message = "router: the response message is over the size limit";
    }
    grpc_byte_buffer_destroy(resp);
    resp = NULL;
  }
  c->srv->forwarder.end(c, f->state, code);
  if (c->broken) {
    return;
  }
  grpc_op ops[3];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!c->initial_md_sent) {
    op_send_md(&ops[n++], init, n_init);
    c->initial_md_sent = true;
  }
  if (resp != NULL) {
    /* A unary plan's response: headers, message and status in one batch. */
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = resp;
    n++;
    c->bytes_out += grpc_byte_buffer_length(resp);
    f->s_send_bb = resp; /* freed with the forward, after this batch */
  }
  grpc_slice msg;
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = (grpc_status_code)code;
  ops[n].data.send_status_from_server.trailing_metadata_count = n_trail;
  ops[n].data.send_status_from_server.trailing_metadata = (grpc_metadata *)trail;
  if (slot->message != NULL) {
    msg = grpc_slice_from_static_string(slot->message);
    ops[n].data.send_status_from_server.status_details = &msg;
  }
  n++;
  if (!start(f, c->core, ops, n, SHIMKIT__TAG_KIND_FINAL)) {
    c->broken = true;
  }
}

/* Ends the call with a status the runtime or a hook chose (message on the call, or why). */
static void fail(shimkit__fwd *f, shimkit_code code, const char *why) {
  shimkit_call *c = f->c;
  if (code != SHIMKIT_OK) {
    shimkit__call_add_details_trailer(c);
  }
  send_final(f, code, c->status_message != NULL ? c->status_message : why, c->init_md, c->n_init_md, c->trail_md,
             c->n_trail_md);
}

/* Passes the current attempt's outcome on to the client. */
static void pass_outcome(shimkit__fwd *f, shimkit_code code, const char *message) {
  shimkit_call *c = f->c;
  attempt *a = current(f);
  size_t n_init = 0;
  size_t n_trail = 0;
  const grpc_metadata *init = f->answered ? pass_md(c, &a->headers, false, &n_init) : NULL;
  const grpc_metadata *trail = pass_md(c, &a->trailers, code != SHIMKIT_OK, &n_trail);
  send_final(f, code, message, init, n_init, trail, n_trail);
}

static void start_attempt(shimkit__fwd *f, shimkit_channel *ch);

/* The current attempt is over: retry it elsewhere, or pass its outcome on. */
static void attempt_over(shimkit__fwd *f) {
  shimkit_call *c = f->c;
  attempt *a = current(f);
  f->b_live = false;
  shimkit_code code = (int)a->status < 0 || (int)a->status > (int)SHIMKIT_UNAUTHENTICATED ? SHIMKIT_UNKNOWN
                                                                                          : (shimkit_code)a->status;
  size_t mlen = GRPC_SLICE_LENGTH(a->details);
  const char *message = shimkit__arena_strndup(c->arena, (const char *)GRPC_SLICE_START_PTR(a->details),
                                         mlen < SHIMKIT__STATUS_MESSAGE_MAX ? mlen : SHIMKIT__STATUS_MESSAGE_MAX);
  /* The backend's copy of the deadline fired first: it is still the deadline. */
  if (code == SHIMKIT_CANCELLED && !f->client_gone && shimkit_call_time_left_ms(c) <= 0) {
    code = SHIMKIT_DEADLINE_EXCEEDED;
    message = "Deadline Exceeded";
  }
  if (code != SHIMKIT_OK && a->error_string != NULL) {
    shimkit_log(SHIMKIT_LOG_DEBUG, "server", "%s: backend call: %s (%s)", c->method, shimkit_code_name(code),
                a->error_string);
  }
  shimkit_forward_attempt res;
  memset(&res, 0, sizeof res);
  res.attempt = f->n_att;
  res.code = code;
  res.message = message != NULL ? message : "";
  res.answered = f->answered;
  res.n_trailers = a->trailers.count;
  res.replayable = f->replayable && !f->client_gone && !f->answered && f->n_att < MAX_ATTEMPTS;
  shimkit_channel *again = c->srv->forwarder.attempt_done(c, f->state, &res);
  if (again != NULL && res.replayable) {
    start_attempt(f, again);
    return;
  }
  pass_outcome(f, code, message);
}

/* ---- attempts --------------------------------------------------------------------- */

/*
 * A unary plan's attempt: one batch out and back, like a unary client call.
 * Its message is the client's one (kept for a replay) or, on a retry, the
 * kept copy. The pump's flags say that everything is in flight, so the pump
 * starts nothing else and ends the attempt when the batch completes.
 */
static void start_unary(shimkit__fwd *f, attempt *a) {
  grpc_byte_buffer *msg = NULL;
  if (f->n_kept > 0) {
    msg = grpc_byte_buffer_copy(f->kept[0]);
  } else if (f->req_held != NULL) {
    msg = f->req_held;
    f->req_held = NULL;
    keep(f, msg);
  }
  f->replay_next = f->n_kept;
  a->status = GRPC_STATUS_UNKNOWN;
  grpc_op ops[6];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  op_send_md(&ops[n++], f->req_md, f->n_req_md);
  if (msg != NULL) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = msg;
    n++;
  }
  ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[n].data.recv_initial_metadata.recv_initial_metadata = &a->headers;
  n++;
  ops[n].op = GRPC_OP_RECV_MESSAGE;
  ops[n].data.recv_message.recv_message = &f->b_recv_bb;
  n++;
  op_recv_status(&ops[n++], a);
  f->b_md_sent = true;
  f->b_closed = true;
  f->b_recv_headers = true;
  f->b_send_bb = msg;
  bool started = start(f, a->core, ops, n, SHIMKIT__TAG_KIND_FWD_BUNARY);
  f->b_send_pending = started;
  f->b_recv_pending = started;
  f->b_status_pending = started;
  if (!started) {
    f->b_send_bb = NULL;
    if (msg != NULL) {
      grpc_byte_buffer_destroy(msg);
    }
    f->b_recv_done = true;
    a->status = GRPC_STATUS_INTERNAL;
    grpc_call_cancel(a->core, NULL);
  }
}

static void start_attempt(shimkit__fwd *f, shimkit_channel *ch) {
  shimkit_call *c = f->c;
  attempt *a = &f->att[f->n_att++];
  memset(a, 0, sizeof *a);
  grpc_metadata_array_init(&a->headers);
  grpc_metadata_array_init(&a->trailers);
  a->details = grpc_empty_slice();
  a->core = grpc_channel_create_call(ch->core, c->core, GRPC_PROPAGATE_DEFAULTS, c->srv->cq,
                                     grpc_slice_from_static_string(c->method), NULL, c->deadline, NULL);
  f->b_md_sent = false;
  f->b_send_pending = false;
  f->b_send_dead = false;
  f->b_closed = false;
  f->b_recv_pending = false;
  f->b_recv_done = false;
  f->b_status_pending = false;
  f->replay_next = 0;
  if (a->core == NULL) {
    fail(f, SHIMKIT_INTERNAL, "router: gRPC could not create the backend call");
    return;
  }
  f->b_live = true;
  if (f->unary) {
    start_unary(f, a);
    return;
  }
  grpc_op op;
  memset(&op, 0, sizeof op);
  op_recv_status(&op, a);
  f->b_status_pending = start(f, a->core, &op, 1, SHIMKIT__TAG_KIND_FWD_BSTATUS);
  if (!f->b_status_pending) {
    a->status = GRPC_STATUS_INTERNAL;
    grpc_call_cancel(a->core, NULL);
  }
  /* The request metadata rides in the first receive batch: the backend gets
   * the call at once (a bidi client may send nothing until it is answered),
   * and there is no batch (and no event) for it alone. */
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  op_send_md(&ops[0], f->req_md, f->n_req_md);
  ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[1].data.recv_initial_metadata.recv_initial_metadata = &a->headers;
  ops[2].op = GRPC_OP_RECV_MESSAGE;
  ops[2].data.recv_message.recv_message = &f->b_recv_bb;
  f->b_recv_headers = true;
  f->b_md_sent = true;
  f->b_recv_pending = start(f, a->core, ops, 3, SHIMKIT__TAG_KIND_FWD_BRECV);
  if (!f->b_recv_pending) {
    f->b_recv_done = true;
    grpc_call_cancel(a->core, NULL);
  }
}

/* Runs choose (first: the first request message, or NULL) and starts the first attempt. */
static void choose(shimkit__fwd *f, grpc_byte_buffer *first) {
  shimkit_call *c = f->c;
  f->chosen = true;
  grpc_slice all = grpc_empty_slice();
  if (first != NULL) {
    grpc_byte_buffer_reader r;
    if (grpc_byte_buffer_reader_init(&r, first)) {
      all = grpc_byte_buffer_reader_readall(&r);
      grpc_byte_buffer_reader_destroy(&r);
    }
  }
  shimkit_channel *ch = NULL;
  shimkit_code code = c->srv->forwarder.choose(c, f->state, first != NULL ? GRPC_SLICE_START_PTR(all) : NULL,
                                               GRPC_SLICE_LENGTH(all), &ch);
  grpc_slice_unref(all);
  if (code != SHIMKIT_OK || ch == NULL) {
    fail(f, code != SHIMKIT_OK ? code : SHIMKIT_INTERNAL, "router: no backend chosen");
    return;
  }
  start_attempt(f, ch);
}

/* ---- the pump ------------------------------------------------------------------------ */

/* Backend send batch: initial metadata, the next message (replayed or new), the half-close. */
static void pump_backend_send(shimkit__fwd *f) {
  if (!f->b_live || f->b_send_pending || f->b_send_dead || f->b_closed) {
    return;
  }
  grpc_op ops[3];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!f->b_md_sent) {
    op_send_md(&ops[n++], f->req_md, f->n_req_md);
    f->b_md_sent = true;
  }
  grpc_byte_buffer *msg = NULL;
  if (f->replay_next < f->n_kept) {
    msg = grpc_byte_buffer_copy(f->kept[f->replay_next++]);
  } else if (f->req_held != NULL) {
    msg = f->req_held;
    f->req_held = NULL;
    keep(f, msg);
  }
  if (msg != NULL) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = msg;
    n++;
  }
  if (f->client_done && f->req_held == NULL && f->replay_next >= f->n_kept) {
    ops[n].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    n++;
    f->b_closed = true;
  }
  if (n == 0) {
    return;
  }
  f->b_send_bb = msg;
  f->b_send_pending = start(f, current(f)->core, ops, n, SHIMKIT__TAG_KIND_FWD_BSEND);
  if (!f->b_send_pending) {
    f->b_send_dead = true;
    f->b_send_bb = NULL;
    if (msg != NULL) {
      grpc_byte_buffer_destroy(msg);
    }
    grpc_call_cancel(current(f)->core, NULL);
  }
}

static void pump_client_recv(shimkit__fwd *f) {
  shimkit_call *c = f->c;
  if (f->s_recv_pending || f->req_held != NULL || f->client_done || f->client_gone || c->broken ||
      (f->unary && f->chosen)) {
    return;
  }
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &f->s_recv_bb;
  f->s_recv_pending = start(f, c->core, &op, 1, SHIMKIT__TAG_KIND_FWD_SRECV);
  if (!f->s_recv_pending) {
    f->client_gone = true;
    cancel_backend(f);
    if (!f->chosen) {
      fail(f, SHIMKIT_CANCELLED, "cancelled by the client or connection lost");
    }
  }
}

static void pump_client_send(shimkit__fwd *f) {
  shimkit_call *c = f->c;
  if (f->resp_held == NULL || f->s_send_pending) {
    return;
  }
  grpc_byte_buffer *bb = f->resp_held;
  f->resp_held = NULL;
  size_t len = grpc_byte_buffer_length(bb);
  if (f->client_gone || c->broken || len > (size_t)c->srv->opts.max_send_bytes) {
    if (!f->client_gone && !c->broken) {
      shimkit_log(SHIMKIT_LOG_WARN, "server", "%s: response message of %zu bytes over the limit", c->method, len);
      f->client_gone = true; /* the client cannot get the rest: end the backend call */
    }
    grpc_byte_buffer_destroy(bb);
    cancel_backend(f);
    return;
  }
  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (!c->initial_md_sent) {
    size_t n_init = 0;
    grpc_metadata *init = pass_md(c, &current(f)->headers, false, &n_init);
    op_send_md(&ops[n++], init, n_init);
    c->initial_md_sent = true;
  }
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n].data.send_message.send_message = bb;
  n++;
  f->s_send_bb = bb;
  f->s_send_pending = start(f, c->core, ops, n, SHIMKIT__TAG_KIND_FWD_SSEND);
  if (f->s_send_pending) {
    c->bytes_out += len;
  } else {
    f->s_send_bb = NULL;
    grpc_byte_buffer_destroy(bb);
    f->client_gone = true;
    c->broken = true;
    cancel_backend(f);
  }
}

static void pump_backend_recv(shimkit__fwd *f) {
  if (!f->b_live || f->b_recv_pending || f->b_recv_done || f->resp_held != NULL) {
    return;
  }
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &f->b_recv_bb;
  f->b_recv_headers = false;
  f->b_recv_pending = start(f, current(f)->core, &op, 1, SHIMKIT__TAG_KIND_FWD_BRECV);
  if (!f->b_recv_pending) {
    f->b_recv_done = true;
    grpc_call_cancel(current(f)->core, NULL);
  }
}

/* Starts every batch the state allows; ends the attempt when all of it is done. */
static void pump(shimkit__fwd *f) {
  if (f->final || f->waiting) {
    return;
  }
  pump_backend_send(f); /* first: it frees req_held for the next read */
  pump_client_recv(f);
  pump_client_send(f); /* first: it frees resp_held for the next receive */
  pump_backend_recv(f);
  /* Over: the backend's status and last message are in, and every response
   * message went to the client's send (the status may follow a send still in
   * flight: gRPC orders them). An attempt that may be retried also waits for
   * its sends, so that the next attempt starts clean. */
  if (f->b_live && !f->b_status_pending && !f->b_recv_pending && f->b_recv_done && f->resp_held == NULL &&
      (!f->b_send_pending || f->answered)) {
    attempt_over(f);
    pump(f); /* a retry's first batches */
  }
}

/* ---- events ------------------------------------------------------------------------------ */

static void on_client_recv(shimkit__fwd *f, bool ok) {
  shimkit_call *c = f->c;
  grpc_byte_buffer *bb = f->s_recv_bb;
  f->s_recv_bb = NULL;
  f->s_recv_pending = false;
  if (f->final) {
    if (bb != NULL) {
      grpc_byte_buffer_destroy(bb);
    }
    return;
  }
  if (!ok) {
    if (bb != NULL) {
      grpc_byte_buffer_destroy(bb);
    }
    f->client_gone = true;
    cancel_backend(f);
  } else if (bb == NULL) {
    f->client_done = true;
  } else {
    c->bytes_in += grpc_byte_buffer_length(bb);
    f->req_held = bb;
  }
  if (!f->chosen) {
    if (f->client_gone) {
      fail(f, SHIMKIT_CANCELLED, "cancelled by the client or connection lost");
    } else {
      /* choose may block here (the router's first look at a method's fields
       * asks a replica): counted busy, so that another worker polls. */
      shimkit__pool_busy(c->srv);
      choose(f, f->req_held);
      shimkit__pool_idle(c->srv);
    }
  }
}

static void on_backend_recv(shimkit__fwd *f, bool ok) {
  grpc_byte_buffer *bb = f->b_recv_bb;
  f->b_recv_bb = NULL;
  f->b_recv_pending = false;
  if (f->b_recv_headers && current(f)->headers.count > 0) {
    f->answered = true;
  }
  if (!ok || bb == NULL || f->final) {
    f->b_recv_done = true;
    if (bb != NULL) {
      grpc_byte_buffer_destroy(bb);
    }
  } else {
    f->answered = true;
    f->resp_held = bb;
  }
  if (f->answered && f->n_kept > 0) {
    forget_kept(f); /* the backend took the call: it is never sent again */
  }
  if (f->answered) {
    f->replayable = false;
  }
}

/* A unary plan's batch completed: the attempt has all it will get (the pump ends it). */
static void on_backend_unary(shimkit__fwd *f, bool ok) {
  attempt *a = current(f);
  f->b_send_pending = false;
  f->b_status_pending = false;
  if (f->b_send_bb != NULL) {
    grpc_byte_buffer_destroy(f->b_send_bb);
    f->b_send_bb = NULL;
  }
  if (!ok && a->status == GRPC_STATUS_OK) {
    a->status = GRPC_STATUS_UNKNOWN; /* core refused the batch as a whole: no status came */
  }
  on_backend_recv(f, ok);
  f->b_recv_done = true;
  if (f->resp_held != NULL) {
    f->u_resp = f->resp_held; /* sent with the status, not by the pump */
    f->resp_held = NULL;
  }
}

void shimkit__fwd_event(shimkit__slot *slot, shimkit__tag_kind kind, bool ok) {
  shimkit__fwd *f = atomic_load(&slot->fwd);
  if (f == NULL) {
    shimkit__call_unref(slot); /* cannot happen: a batch of a forward holds it */
    return;
  }
  pthread_mutex_lock(&f->lock);
  switch (kind) {
  case SHIMKIT__TAG_KIND_FWD_SRECV:
    on_client_recv(f, ok);
    break;
  case SHIMKIT__TAG_KIND_FWD_SSEND:
    f->s_send_pending = false;
    grpc_byte_buffer_destroy(f->s_send_bb);
    f->s_send_bb = NULL;
    if (!ok && !f->final) {
      f->client_gone = true;
      cancel_backend(f);
    }
    break;
  case SHIMKIT__TAG_KIND_FWD_BSEND:
    f->b_send_pending = false;
    if (f->b_send_bb != NULL) {
      grpc_byte_buffer_destroy(f->b_send_bb);
      f->b_send_bb = NULL;
    }
    if (!ok) {
      f->b_send_dead = true; /* the status will say why */
    }
    break;
  case SHIMKIT__TAG_KIND_FWD_BRECV:
    on_backend_recv(f, ok);
    break;
  case SHIMKIT__TAG_KIND_FWD_BSTATUS:
    f->b_status_pending = false;
    break;
  case SHIMKIT__TAG_KIND_FWD_BUNARY:
    on_backend_unary(f, ok);
    break;
  default:
    break;
  }
  pump(f);
  pthread_mutex_unlock(&f->lock);
  shimkit__call_unref(slot);
}

static void unpark(shimkit__fwd *f);
static void fail_waiting(shimkit__fwd *f);

void shimkit__fwd_closed(shimkit__fwd *f) {
  pthread_mutex_lock(&f->lock);
  if (f->c->close_cancelled && !f->final) {
    f->client_gone = true;
    cancel_backend(f);
    if (f->waiting) {
      unpark(f);
      fail_waiting(f);
    }
    pump(f);
  }
  pthread_mutex_unlock(&f->lock);
}

/* ---- waiting ------------------------------------------------------------------------------- */

/* Takes f off the parked list if it is still there; f->waiting goes false. f's lock held. */
static void unpark(shimkit__fwd *f) {
  shimkit_server *srv = f->c->srv;
  pthread_mutex_lock(&srv->park_lock);
  if (f->in_list) {
    if (f->park_prev != NULL) {
      f->park_prev->park_next = f->park_next;
    } else {
      srv->parked = f->park_next;
    }
    if (f->park_next != NULL) {
      f->park_next->park_prev = f->park_prev;
    }
    f->in_list = false;
    f->park_prev = f->park_next = NULL;
  }
  pthread_mutex_unlock(&srv->park_lock);
  f->waiting = false;
}

/* A waiting call whose client went away (or whose deadline passed, or the drain cancelled it). */
static void fail_waiting(shimkit__fwd *f) {
  shimkit_call *c = f->c;
  f->client_gone = true;
  if (atomic_load(&c->srv->cancelling)) {
    fail(f, SHIMKIT_UNAVAILABLE, "cancelled by the server's drain while waiting");
  } else if (shimkit_call_time_left_ms(c) <= 0) {
    fail(f, SHIMKIT_DEADLINE_EXCEEDED, "deadline exceeded while waiting");
  } else {
    fail(f, SHIMKIT_CANCELLED, "cancelled by the client or connection lost while waiting");
  }
}

/*
 * Carries out the plan begin returned: parks the call, or applies the plan
 * and, unless the first message is read first, chooses. A call that should
 * park while a resume ran since begin looked runs begin again instead.
 * f's lock held.
 */
static void follow_plan(shimkit__fwd *f, shimkit_forward_plan plan) {
  shimkit_call *c = f->c;
  shimkit_server *srv = c->srv;
  while (plan.wait) {
    pthread_mutex_lock(&srv->park_lock);
    uint64_t gen = atomic_load(&srv->resume_gen);
    if (gen == f->gen) {
      f->park_prev = NULL;
      f->park_next = srv->parked;
      if (srv->parked != NULL) {
        srv->parked->park_prev = f;
      }
      srv->parked = f;
      f->in_list = true;
      f->waiting = true;
      pthread_mutex_unlock(&srv->park_lock);
      return;
    }
    f->gen = gen;
    pthread_mutex_unlock(&srv->park_lock);
    memset(&plan, 0, sizeof plan);
    shimkit_code code = srv->forwarder.begin(c, srv->forwarder_user_data, &f->state, &plan);
    if (code != SHIMKIT_OK) {
      fail(f, code, "the call cannot be forwarded");
      return;
    }
  }
  f->unary = plan.unary;
  f->read_first = plan.read_first || plan.unary;
  if (!f->read_first) {
    choose(f, NULL);
  }
}

void shimkit_server_forward_resume(shimkit_server *srv) {
  if (srv == NULL || !srv->has_forwarder) {
    return;
  }
  pthread_mutex_lock(&srv->park_lock);
  uint64_t gen = atomic_load(&srv->resume_gen) + 1;
  atomic_store(&srv->resume_gen, gen);
  shimkit__fwd *list = srv->parked;
  srv->parked = NULL;
  for (shimkit__fwd *f = list; f != NULL; f = f->park_next) {
    /* Alive: on the list, its close event has not run (it unparks first). */
    f->in_list = false;
    atomic_fetch_add(&f->c->slot->pending, 1);
  }
  pthread_mutex_unlock(&srv->park_lock);
  while (list != NULL) {
    shimkit__fwd *f = list;
    list = f->park_next; /* read before the links are reused (under f's lock, f may park again) */
    shimkit__slot *slot = f->c->slot;
    pthread_mutex_lock(&f->lock);
    f->park_prev = f->park_next = NULL;
    if (f->waiting && !f->final) {
      f->waiting = false;
      f->gen = gen;
      shimkit_forward_plan plan;
      memset(&plan, 0, sizeof plan);
      shimkit_code code = srv->forwarder.begin(f->c, srv->forwarder_user_data, &f->state, &plan);
      if (code != SHIMKIT_OK) {
        fail(f, code, "the call cannot be forwarded");
      } else {
        follow_plan(f, plan);
      }
      pump(f);
    }
    pthread_mutex_unlock(&f->lock);
    shimkit__call_unref(slot); /* may finish the call */
  }
}

/* ---- start and free ------------------------------------------------------------------------ */

/* The request metadata for the backend, less what gRPC sets itself (arena; static slices). */
static bool request_md(shimkit_call *c, shimkit__fwd *f) {
  if (c->n_req_md == 0) {
    return true;
  }
  f->req_md = shimkit__arena_alloc(c->arena, c->n_req_md * sizeof *f->req_md);
  if (f->req_md == NULL) {
    return false;
  }
  for (size_t i = 0; i < c->n_req_md; i++) {
    grpc_slice key = grpc_slice_from_static_string(c->req_keys[i]);
    if (!reserved_key(key)) {
      grpc_metadata *m = &f->req_md[f->n_req_md++];
      memset(m, 0, sizeof *m);
      m->key = key;
      m->value = grpc_slice_from_static_buffer(c->req_values[i], c->req_lens[i]);
    }
  }
  return true;
}

shimkit_code shimkit__fwd_start(shimkit_call *c) {
  shimkit__fwd *f = calloc(1, sizeof *f);
  if (f == NULL || !request_md(c, f)) {
    free(f);
    return shimkit_call_error(c, SHIMKIT_RESOURCE_EXHAUSTED, "server out of memory");
  }
  pthread_mutex_init(&f->lock, NULL);
  f->c = c;
  f->replayable = true;
  f->gen = atomic_load(&c->srv->resume_gen); /* before begin looks (follow_plan) */
  shimkit_forward_plan plan = {0};
  shimkit_code code = c->srv->forwarder.begin(c, c->srv->forwarder_user_data, &f->state, &plan);
  if (code != SHIMKIT_OK) {
    pthread_mutex_destroy(&f->lock);
    free(f);
    return code;
  }
  shimkit__call_watch_close(c);
  pthread_mutex_lock(&f->lock);
  atomic_store(&c->slot->fwd, f);
  c->forwarding = true;
  if (c->broken || (atomic_load(&c->close_done) && c->close_cancelled)) {
    f->client_gone = true;
    fail(f, SHIMKIT_CANCELLED, "cancelled by the client or connection lost");
  } else {
    follow_plan(f, plan);
  }
  pump(f);
  pthread_mutex_unlock(&f->lock);
  return SHIMKIT_OK;
}

void shimkit__fwd_free(shimkit__fwd *f) {
  if (!f->final) {
    /* Every path sets final; should one not, the hooks' state is still freed. */
    f->c->srv->forwarder.end(f->c, f->state, SHIMKIT_CANCELLED);
  }
  for (int i = 0; i < f->n_att; i++) {
    attempt *a = &f->att[i];
    if (a->core != NULL) {
      grpc_call_unref(a->core);
    }
    grpc_metadata_array_destroy(&a->headers);
    grpc_metadata_array_destroy(&a->trailers);
    grpc_slice_unref(a->details);
    gpr_free((void *)a->error_string);
  }
  for (int i = 0; i < f->n_kept; i++) {
    grpc_byte_buffer_destroy(f->kept[i]);
  }
  grpc_byte_buffer *left[] = {f->s_recv_bb, f->req_held,  f->s_send_bb, f->resp_held,
                              f->b_send_bb, f->b_recv_bb, f->u_resp};
  for (size_t i = 0; i < sizeof left / sizeof left[0]; i++) {
    if (left[i] != NULL) {
      grpc_byte_buffer_destroy(left[i]);
    }
  }
  pthread_mutex_destroy(&f->lock);
  free(f);
}
