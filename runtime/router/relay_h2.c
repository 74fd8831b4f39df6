/*
 * relay_h2.c - the relay's nghttp2 sessions (relay_internal.h): a server
 * session on each client's connection (DOWN), a client session on each
 * connection to a replica or to the router's server (UP), and the callbacks
 * that turn their frames into the call's steps (relay_call.c).
 *
 * Flow control is the relay's: windows open again only as bytes are handed
 * to the other side (nghttp2_session_consume in relay_call.c), so a slow
 * reader holds back its writer instead of filling the relay's memory.
 */
#include <string.h>

#include "relay_internal.h"

#define RELAY_STREAM_WINDOW (256 << 10) /* per stream, each way: what the relay may hold of one */
#define RELAY_CONN_WINDOW (16 << 20)    /* per connection (opened as bytes arrive) */
#define RELAY_MAX_STREAMS_PER_CLIENT 256 /* concurrent calls on one client connection: 64 MiB held at most */

static relay_call *call_of(nghttp2_session *s, int32_t id) {
  return id > 0 ? nghttp2_session_get_stream_user_data(s, id) : NULL;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  relay_conn *c = ud;
  if (c->side != RELAY_DOWN || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  relay_call *call = relay_call_new(c, f->hd.stream_id);
  if (call == NULL) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
  }
  nghttp2_session_set_stream_user_data(s, f->hd.stream_id, call);
  return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t name_len,
                     const uint8_t *value, size_t value_len, uint8_t flags, void *ud) {
  (void)flags;
  relay_conn *c = ud;
  relay_call *call = call_of(s, f->hd.stream_id);
  if (call == NULL || f->hd.type != NGHTTP2_HEADERS) {
    return 0;
  }
  relay_headers *h = NULL;
  if (c->side == RELAY_DOWN) {
    h = f->headers.cat == NGHTTP2_HCAT_REQUEST ? &call->req_h : NULL; /* request trailers: not gRPC, dropped */
  } else {
    h = f->headers.cat == NGHTTP2_HCAT_RESPONSE ? &call->resp_h : &call->trailers;
  }
  if (h != NULL && relay_headers_add(h, name, name_len, value, value_len) != 0) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  relay_conn *c = ud;
  if (f->hd.type == NGHTTP2_GOAWAY) {
    if (c->side == RELAY_UP) {
      c->goaway = true; /* no new streams on it: the next call opens another connection */
      if (c->internal && f->goaway.error_code == NGHTTP2_NO_ERROR) {
        relay_begin_drain(c->rl); /* the router's server began its drain (a graceful GOAWAY) */
      } else if (c->internal) {
        shimkit_log(SHIMKIT_LOG_WARN, "router", "relay: the router's server sent GOAWAY (%s); reconnecting",
                    nghttp2_http2_strerror(f->goaway.error_code));
      }
    }
    return 0;
  }
  relay_call *call = call_of(s, f->hd.stream_id);
  if (call == NULL) {
    return 0;
  }
  bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (c->side == RELAY_DOWN) {
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
      relay_call_route(call);
    }
    if (end && (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA)) {
      relay_call_request_end(call);
    }
    return 0;
  }
  if (f->hd.type == NGHTTP2_HEADERS) {
    if (f->headers.cat == NGHTTP2_HCAT_RESPONSE) {
      relay_call_response_headers(call, end);
    } else if (end) {
      relay_call_response_end(call, true);
    }
  } else if (f->hd.type == NGHTTP2_DATA && end) {
    relay_call_response_end(call, false);
  }
  return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud) {
  (void)flags;
  relay_conn *c = ud;
  relay_call *call = call_of(s, id);
  if (call == NULL) {
    nghttp2_session_consume(s, id, len); /* a stream the relay let go of: keep the windows open */
    return 0;
  }
  /* The connection's window opens at once; the stream's as the bytes are handed over (relay_call.c). */
  nghttp2_session_consume_connection(s, len);
  if (c->side == RELAY_DOWN) {
    relay_call_request_data(call, data, len);
  } else {
    relay_call_response_data(call, data, len);
  }
  return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *ud) {
  relay_conn *c = ud;
  relay_call *call = call_of(s, id);
  if (call != NULL) {
    nghttp2_session_set_stream_user_data(s, id, NULL);
    relay_call_closed(call, c->side, error_code);
  }
  return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  relay_conn *c = ud;
  if (c->side == RELAY_UP && f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
    relay_call *call = call_of(s, f->hd.stream_id);
    if (call != NULL) {
      relay_call_sent(call);
    }
  }
  return 0;
}

/* A request that could not go out (the replica said GOAWAY first): as refused. */
static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f, int lib_error_code, void *ud) {
  relay_conn *c = ud;
  if (c->side != RELAY_UP || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  for (relay_call *call = c->calls; call != NULL; call = call->link[RELAY_UP].next) {
    if (call->up_id == f->hd.stream_id && call->up_open) {
      nghttp2_session_set_stream_user_data(s, f->hd.stream_id, NULL);
      /* GOAWAY came first: refused, sent again. Anything else (a header block too large): an error. */
      relay_call_closed(call, RELAY_UP,
                        lib_error_code == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED ? NGHTTP2_REFUSED_STREAM
                                                                               : NGHTTP2_INTERNAL_ERROR);
      break;
    }
  }
  return 0;
}

int relay_h2_session(relay_conn *c) {
  nghttp2_session_callbacks *cb = NULL;
  nghttp2_option *opt = NULL;
  if (nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0) {
    nghttp2_session_callbacks_del(cb);
    return -1;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  int rv = c->side == RELAY_DOWN ? nghttp2_session_server_new2(&c->s, cb, c, opt)
                                 : nghttp2_session_client_new2(&c->s, cb, c, opt);
  nghttp2_session_callbacks_del(cb);
  nghttp2_option_del(opt);
  if (rv != 0) {
    c->s = NULL;
    return -1;
  }
  nghttp2_settings_entry down[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, RELAY_MAX_STREAMS_PER_CLIENT},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, RELAY_STREAM_WINDOW},
  };
  nghttp2_settings_entry up[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, RELAY_STREAM_WINDOW},
  };
  rv = c->side == RELAY_DOWN ? nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, down, 2)
                             : nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, up, 2);
  if (rv == 0) {
    rv = nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, RELAY_CONN_WINDOW);
  }
  return rv == 0 ? 0 : -1;
}
