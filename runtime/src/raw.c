/*
 * raw.c - the server side of shimkit/raw.h: a catch-all handler that sees
 * calls as bytes, for proxies.
 *
 * Raw calls use the unknown-methods request (requests.c), bound to the
 * slot's own pluck queue like any stream. Reads pluck their own tag
 * (SHIMKIT__TAG_READ) and touch only raw_read_done, so a reader thread and
 * the writer (the handler's thread: writes, status) never share a field or
 * an event. RECV_CLOSE_ON_SERVER is started before the handler runs, so the
 * final batch never carries it and shimkit_call_wait_cancelled() can pluck
 * it; call_run.c waits for it after the handler if nobody did.
 */
#define _POSIX_C_SOURCE 200809L
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>

#include "server_core.h"
#include "shimkit/log.h"
#include "shimkit/raw.h"

shimkit_code shimkit_server_set_raw_handler(shimkit_server *srv, shimkit_raw_handler_fn fn, void *user_data) {
  if (srv == NULL) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  if (srv->state != SHIMKIT__SERVER_NEW || srv->started) {
    return SHIMKIT_FAILED_PRECONDITION;
  }
  srv->raw_fn = fn;
  srv->raw_user_data = user_data;
  srv->has_forwarder = false;
  return SHIMKIT_OK;
}

shimkit_code shimkit__raw_run(shimkit_call *c) {
  shimkit__call_watch_close(c);
  shimkit_code code = c->srv->raw_fn(c, c->srv->raw_user_data);
  if ((int)code < 0 || code > SHIMKIT_UNAUTHENTICATED) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "%s: raw handler returned %d, not a status code", c->method,
                (int)code);
    code = shimkit_call_error(c, SHIMKIT_UNKNOWN, "handler returned an invalid status code");
  }
  return code;
}

/* Copies a received buffer into one malloc'd block; NULL when over max or out of memory. */
static uint8_t *flatten(grpc_byte_buffer *bb, size_t max, size_t *len) {
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, bb)) {
    return NULL;
  }
  size_t total = grpc_byte_buffer_length(bb);
  uint8_t *out = total <= max ? malloc(total > 0 ? total : 1) : NULL;
  size_t off = 0;
  grpc_slice s;
  while (grpc_byte_buffer_reader_next(&r, &s)) {
    size_t n = GRPC_SLICE_LENGTH(s);
    if (out != NULL && n <= max - off) {
      memcpy(out + off, GRPC_SLICE_START_PTR(s), n);
      off += n;
    } else if (out != NULL) {
      free(out); /* decompressed past the limit */
      out = NULL;
    }
    grpc_slice_unref(s);
  }
  grpc_byte_buffer_reader_destroy(&r);
  *len = off;
  return out;
}

int shimkit_call_read_bytes(shimkit_call *call, uint8_t **data, size_t *len) {
  if (data == NULL || len == NULL) {
    return -1;
  }
  *data = NULL;
  *len = 0;
  if (call == NULL || call->cq == NULL || call->desc != NULL) {
    return -1;
  }
  if (call->raw_read_done) {
    return 0;
  }
  grpc_byte_buffer *bb = NULL;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &bb;
  if (grpc_call_start_batch(call->core, &op, 1, SHIMKIT__TAG_READ(call), NULL) != GRPC_CALL_OK) {
    return -1;
  }
  grpc_event ev =
      grpc_completion_queue_pluck(call->cq, SHIMKIT__TAG_READ(call), gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
    if (bb != NULL) {
      grpc_byte_buffer_destroy(bb);
    }
    return -1;
  }
  if (bb == NULL) {
    call->raw_read_done = true;
    return 0;
  }
  *data = flatten(bb, (size_t)call->srv->opts.max_receive_bytes, len);
  grpc_byte_buffer_destroy(bb);
  if (*data == NULL) {
    shimkit_log(SHIMKIT_LOG_WARN, "server", "%s: request message over %d bytes or out of memory", call->method,
                call->srv->opts.max_receive_bytes);
    return -1;
  }
  call->bytes_in += *len;
  return 1;
}

int shimkit_call_write_bytes(shimkit_call *call, const void *data, size_t len) {
  if (call == NULL || call->cq == NULL || call->desc != NULL || (data == NULL && len > 0)) {
    return -1;
  }
  if (call->broken || call->status_sent || atomic_load(&call->srv->cancelling)) {
    return -1;
  }
  if (len > (size_t)call->srv->opts.max_send_bytes) {
    shimkit_log(SHIMKIT_LOG_WARN, "server", "%s: response message of %zu bytes over the limit", call->method, len);
    return -1;
  }
  grpc_slice slice = grpc_slice_from_copied_buffer(data, len);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  bool ok = shimkit__call_send_buffer(call, bb);
  if (ok) {
    call->bytes_out += len;
  }
  return ok ? 0 : -1;
}

int shimkit_call_send_status(shimkit_call *call, shimkit_code code) {
  if (call == NULL || call->cq == NULL || call->desc != NULL || call->status_sent || call->broken) {
    return -1;
  }
  const char *message = NULL;
  if (code != SHIMKIT_OK) {
    message = call->status_message != NULL ? call->status_message : shimkit_strerror(code);
  }
  shimkit__call_send_status(call, code, message, NULL);
  call->status_sent = true;
  return call->broken ? -1 : 0;
}

bool shimkit_call_wait_cancelled(shimkit_call *call, int timeout_ms) {
  if (call == NULL || call->cq == NULL) {
    return true;
  }
  if (atomic_load(&call->close_done)) {
    return true; /* before our status: only when the call died */
  }
  gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
  grpc_event ev = grpc_completion_queue_pluck(call->cq, SHIMKIT__TAG_CLOSE(call), until, NULL);
  if (ev.type == GRPC_OP_COMPLETE) {
    atomic_store(&call->close_done, true);
    return true;
  }
  return atomic_load(&call->srv->cancelling);
}
