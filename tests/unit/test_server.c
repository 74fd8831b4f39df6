/*
 * test_server.c - a real shimkit server on 127.0.0.1:0, called through the
 * raw gRPC C core client (no shimkit client code involved), with a service
 * table written by hand the way protoc-gen-shimkit would emit it.
 *
 * Service test.Svc (google.protobuf.StringValue in and out):
 *   Echo     unary; the request value picks a behaviour (see echo())
 *   Expand   server streaming: three replies "<value>0".."<value>2"
 *   Collect  client streaming: the values joined with '+'
 *   Chat     bidi: one reply "re:<value>" per request
 *   Deep     unary taking google.protobuf.Value (a recursive type)
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "shimkit/shimkit.h"

typedef Google__Protobuf__StringValue SV;

/* ---- what handlers saw (read by the tests) ---------------------------------- */

static atomic_int saw_cancel;   /* a handler saw shimkit_call_is_cancelled() */
static atomic_int saw_deadline; /* ... and time_left <= 0 */
static atomic_int handler_entered;
static atomic_int interceptor_order; /* digits appended: 1 = outer, 2 = inner */
static atomic_int blocked_release;   /* "block" handlers return once this is 1 */

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- handlers --------------------------------------------------------------- */

typedef struct handlers {
  shimkit_code (*echo)(shimkit_call *, const SV *, SV *, void *);
  shimkit_code (*expand)(shimkit_call *, const SV *, void *);
  shimkit_code (*collect)(shimkit_call *, SV *, void *);
  shimkit_code (*chat)(shimkit_call *, void *);
  shimkit_code (*deep)(shimkit_call *, const Google__Protobuf__Value *, SV *, void *);
} handlers;

static shimkit_code echo(shimkit_call *call, const SV *req, SV *resp, void *ud) {
  assert_ptr_equal(ud, (void *)0x5eed);
  atomic_fetch_add(&handler_entered, 1);
  const char *v = req->value;
  if (strcmp(v, "fail") == 0) {
    shimkit_call_add_trailing_metadata(call, "x-why", "because", 7);
    shimkit_call_set_error_details(call, "\x08\x05", 2);
    return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "no thing called %s", v);
  }
  if (strcmp(v, "wait-cancel") == 0) {
    /* Poll until the deadline (or a drain) cancels the call; 10 s safety net. */
    for (int i = 0; i < 1000 && !shimkit_call_is_cancelled(call); i++) {
      sleep_ms(10);
    }
    if (shimkit_call_is_cancelled(call)) {
      atomic_store(&saw_cancel, 1);
      if (shimkit_call_time_left_ms(call) <= 0) {
        atomic_store(&saw_deadline, 1);
      }
    }
    return SHIMKIT_CANCELLED;
  }
  if (strcmp(v, "block") == 0) {
    /* Blocks until the test releases it (60 s safety net), without looking at cancellation. */
    for (int i = 0; i < 60000 && !atomic_load(&blocked_release); i++) {
      sleep_ms(1);
    }
    resp->value = "released";
    return SHIMKIT_OK;
  }
  if (strncmp(v, "slow:", 5) == 0) {
    sleep_ms(atoi(v + 5)); /* does not look at cancellation */
    resp->value = "slept";
    return SHIMKIT_OK;
  }
  if (strcmp(v, "big") == 0) {
    char *big = shimkit_call_alloc(call, 5000);
    memset(big, 'b', 4999);
    resp->value = big;
    return SHIMKIT_OK;
  }
  if (strcmp(v, "bad-md") == 0) {
    assert_int_equal(shimkit_call_add_initial_metadata(call, "grpc-status", "0", 1),
                     SHIMKIT_INVALID_ARGUMENT);
    assert_int_equal(shimkit_call_add_initial_metadata(call, "Bad Key", "0", 1), SHIMKIT_INVALID_ARGUMENT);
    assert_int_equal(shimkit_call_add_initial_metadata(call, "x-ok", "a\nb", 3), SHIMKIT_INVALID_ARGUMENT);
    resp->value = "refused";
    return SHIMKIT_OK;
  }
  if (strcmp(v, "bad-code") == 0) {
    return (shimkit_code)99;
  }
  /* Default: echo, with metadata both ways. */
  size_t len = 0;
  const char *in = shimkit_call_metadata_get(call, "x-in", &len);
  if (in != NULL) {
    assert_int_equal(shimkit_call_add_initial_metadata(call, "x-out", in, len), SHIMKIT_OK);
    assert_int_equal(shimkit_call_add_trailing_metadata(call, "x-trail-bin", "\x00\x01", 2), SHIMKIT_OK);
  }
  assert_int_equal(shimkit_call_time_left_ms(call) > 0, 1);
  assert_string_equal(shimkit_call_method(call), "/test.Svc/Echo");
  assert_non_null(shimkit_call_method_desc(call));
  assert_true(strncmp(shimkit_call_peer(call), "ipv4:127.0.0.1:", 15) == 0);
  assert_ptr_equal(shimkit_call_request(call), &req->base);
  resp->value = shimkit_call_strdup(call, v);
  return SHIMKIT_OK;
}

static shimkit_code expand(shimkit_call *call, const SV *req, void *ud) {
  (void)ud;
  /* Headers can be added before the first write, not after. */
  assert_int_equal(shimkit_call_add_initial_metadata(call, "x-stream", "yes", 3), SHIMKIT_OK);
  for (int i = 0; i < 3; i++) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s%d", req->value, i);
    SV out = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    out.value = buf;
    if (shimkit_call_write(call, &out.base) != 0) {
      return SHIMKIT_CANCELLED;
    }
    assert_int_equal(shimkit_call_add_initial_metadata(call, "x-late", "no", 2), SHIMKIT_FAILED_PRECONDITION);
  }
  /* Writing the wrong type is refused, not sent. */
  Google__Protobuf__Value wrong = GOOGLE__PROTOBUF__VALUE__INIT;
  assert_int_equal(shimkit_call_write(call, &wrong.base), -1);
  return SHIMKIT_OK; /* the runtime turns the refused write into INTERNAL */
}

static shimkit_code collect(shimkit_call *call, SV *resp, void *ud) {
  (void)ud;
  char *joined = shimkit_call_alloc(call, 1024);
  ProtobufCMessage *m;
  int rc;
  while ((rc = shimkit_call_read(call, &m)) == 1) {
    const SV *sv = (const SV *)m;
    if (joined[0] != '\0') {
      strncat(joined, "+", 1023 - strlen(joined));
    }
    strncat(joined, sv->value, 1023 - strlen(joined));
  }
  if (rc < 0) {
    return SHIMKIT_CANCELLED; /* the runtime keeps INVALID_ARGUMENT for bad bytes */
  }
  assert_int_equal(shimkit_call_read(call, &m), 0); /* stays at end */
  resp->value = joined;
  return SHIMKIT_OK;
}

static shimkit_code chat(shimkit_call *call, void *ud) {
  (void)ud;
  ProtobufCMessage *m;
  int rc;
  while ((rc = shimkit_call_read(call, &m)) == 1) {
    char buf[128];
    snprintf(buf, sizeof buf, "re:%s", ((const SV *)m)->value);
    SV out = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    out.value = buf;
    if (shimkit_call_write(call, &out.base) != 0) {
      return SHIMKIT_CANCELLED;
    }
  }
  return rc == 0 ? SHIMKIT_OK : SHIMKIT_CANCELLED;
}

static shimkit_code deep(shimkit_call *call, const Google__Protobuf__Value *req, SV *resp, void *ud) {
  (void)call;
  (void)ud;
  resp->value = req->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE ? "list" : "other";
  return SHIMKIT_OK;
}

/* Trampolines, as protoc-gen-shimkit emits them. */
static shimkit_code invoke_echo(const void *h, shimkit_call *c, const ProtobufCMessage *req,
                                ProtobufCMessage *resp, void *ud) {
  const handlers *t = h;
  return t->echo ? t->echo(c, (const SV *)req, (SV *)resp, ud) : SHIMKIT_UNIMPLEMENTED;
}
static shimkit_code invoke_expand(const void *h, shimkit_call *c, const ProtobufCMessage *req,
                                  ProtobufCMessage *resp, void *ud) {
  (void)resp;
  const handlers *t = h;
  return t->expand ? t->expand(c, (const SV *)req, ud) : SHIMKIT_UNIMPLEMENTED;
}
static shimkit_code invoke_collect(const void *h, shimkit_call *c, const ProtobufCMessage *req,
                                   ProtobufCMessage *resp, void *ud) {
  (void)req;
  const handlers *t = h;
  return t->collect ? t->collect(c, (SV *)resp, ud) : SHIMKIT_UNIMPLEMENTED;
}
static shimkit_code invoke_chat(const void *h, shimkit_call *c, const ProtobufCMessage *req,
                                ProtobufCMessage *resp, void *ud) {
  (void)req;
  (void)resp;
  const handlers *t = h;
  return t->chat ? t->chat(c, ud) : SHIMKIT_UNIMPLEMENTED;
}
static shimkit_code invoke_deep(const void *h, shimkit_call *c, const ProtobufCMessage *req,
                                ProtobufCMessage *resp, void *ud) {
  const handlers *t = h;
  return t->deep ? t->deep(c, (const Google__Protobuf__Value *)req, (SV *)resp, ud) : SHIMKIT_UNIMPLEMENTED;
}

#define SVD &google__protobuf__string_value__descriptor
static const shimkit_method_desc test_methods[] = {
    {"/test.Svc/Chat", "Chat", SHIMKIT_METHOD_BIDI_STREAMING, SVD, SVD, invoke_chat},
    {"/test.Svc/Collect", "Collect", SHIMKIT_METHOD_CLIENT_STREAMING, SVD, SVD, invoke_collect},
    {"/test.Svc/Deep", "Deep", SHIMKIT_METHOD_UNARY, &google__protobuf__value__descriptor, SVD, invoke_deep},
    {"/test.Svc/Echo", "Echo", SHIMKIT_METHOD_UNARY, SVD, SVD, invoke_echo},
    {"/test.Svc/Expand", "Expand", SHIMKIT_METHOD_SERVER_STREAMING, SVD, SVD, invoke_expand},
};
static const shimkit_service_desc test_service = {SHIMKIT_ABI_VERSION, "test.Svc", "test.proto", 5,
                                                  test_methods,        0,          NULL};
static const handlers test_handlers = {echo, expand, collect, chat, deep};

/* ---- interceptors -------------------------------------------------------------- */

static shimkit_code outer(shimkit_call *call, shimkit_next *next, void *ud) {
  (void)ud;
  if (shimkit_call_metadata_get(call, "x-deny", NULL) != NULL) {
    return shimkit_call_error(call, SHIMKIT_PERMISSION_DENIED, "denied by interceptor");
  }
  atomic_store(&interceptor_order, 1);
  return shimkit_next_call(next);
}

static shimkit_code inner(shimkit_call *call, shimkit_next *next, void *ud) {
  (void)ud;
  atomic_store(&interceptor_order, atomic_load(&interceptor_order) * 10 + 2);
  if (shimkit_call_metadata_get(call, "x-twice", NULL) != NULL) {
    shimkit_next_call(next);
    return shimkit_next_call(next); /* refused: the handler runs once */
  }
  return shimkit_next_call(next);
}

/* ---- a server per test ---------------------------------------------------------- */

typedef struct fixture {
  shimkit_server *srv;
  int port;
  char target[64];
} fixture;

static fixture *start_server_workers(int grace_ms, int max_bytes, int workers) {
  fixture *f = calloc(1, sizeof *f);
  shimkit_server_options opts;
  shimkit_server_options_init(&opts);
  opts.worker_threads = workers;
  opts.handle_signals = false;
  opts.drain_grace_ms = grace_ms;
  opts.max_receive_bytes = max_bytes;
  opts.max_send_bytes = max_bytes;
  f->srv = shimkit_server_new(&opts);
  assert_non_null(f->srv);
  assert_int_equal(shimkit_server_add_listener(f->srv, "127.0.0.1:0", NULL, &f->port), SHIMKIT_OK);
  assert_true(f->port > 0);
  snprintf(f->target, sizeof f->target, "127.0.0.1:%d", f->port);
  assert_int_equal(shimkit_server_add_service(f->srv, &test_service, &test_handlers, (void *)0x5eed),
                   SHIMKIT_OK);
  assert_int_equal(shimkit_server_add_interceptor(f->srv, outer, NULL), SHIMKIT_OK);
  assert_int_equal(shimkit_server_add_interceptor(f->srv, inner, NULL), SHIMKIT_OK);
  assert_int_equal(shimkit_server_start(f->srv), SHIMKIT_OK);
  return f;
}

static fixture *start_server(int grace_ms, int max_bytes) {
  return start_server_workers(grace_ms, max_bytes, 4);
}

static void stop_server(fixture *f) {
  shimkit_server_shutdown(f->srv);
  shimkit_server_wait(f->srv);
  shimkit_server_free(f->srv);
  free(f);
}

static int setup(void **state) {
  *state = start_server(2000, 1024);
  return 0;
}

static int teardown(void **state) {
  stop_server(*state);
  return 0;
}

/* ---- a raw gRPC core client ---------------------------------------------------- */

#define MAX_MSGS 8

typedef struct result {
  grpc_status_code status;
  char message[256];
  int n; /* messages received */
  char msgs[MAX_MSGS][256];
  char out_md[64];   /* initial metadata x-out / x-stream value */
  char trail_bin[8]; /* x-trail-bin value */
  size_t trail_bin_len;
  char why[32];       /* x-why trailer */
  size_t details_len; /* grpc-status-details-bin length */
} result;

/* PEM contents the client uses; ca NULL = plaintext. */
static struct {
  const char *ca;
  const char *cert;
  const char *key;
} client_tls;

/* Compress requests with gzip (the server decompresses through the byte-buffer reader). */
static bool client_gzip;

static grpc_byte_buffer *raw_buffer(const void *data, size_t len) {
  grpc_slice s = grpc_slice_from_copied_buffer(data, len);
  grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  return bb;
}

static grpc_byte_buffer *sv_buffer(const char *value) {
  SV sv = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
  sv.value = (char *)value;
  size_t len = google__protobuf__string_value__get_packed_size(&sv);
  uint8_t *buf = malloc(len + 1);
  google__protobuf__string_value__pack(&sv, buf);
  grpc_byte_buffer *bb = raw_buffer(buf, len);
  free(buf);
  return bb;
}

static void copy_slice(char *dst, size_t cap, grpc_slice s, size_t *len_out) {
  size_t n = GRPC_SLICE_LENGTH(s);
  if (n >= cap) {
    n = cap - 1;
  }
  memcpy(dst, GRPC_SLICE_START_PTR(s), n);
  dst[n] = '\0';
  if (len_out != NULL) {
    *len_out = n;
  }
}

static void scan_md(const grpc_metadata_array *md, result *r) {
  for (size_t i = 0; i < md->count; i++) {
    grpc_slice k = md->metadata[i].key;
    grpc_slice v = md->metadata[i].value;
    if (grpc_slice_str_cmp(k, "x-out") == 0 || grpc_slice_str_cmp(k, "x-stream") == 0) {
      copy_slice(r->out_md, sizeof r->out_md, v, NULL);
    } else if (grpc_slice_str_cmp(k, "x-trail-bin") == 0) {
      copy_slice(r->trail_bin, sizeof r->trail_bin, v, &r->trail_bin_len);
    } else if (grpc_slice_str_cmp(k, "x-why") == 0) {
      copy_slice(r->why, sizeof r->why, v, NULL);
    } else if (grpc_slice_str_cmp(k, "grpc-status-details-bin") == 0) {
      r->details_len = GRPC_SLICE_LENGTH(v);
    }
  }
}

static void wait_tag(grpc_completion_queue *cq, void *tag, bool *ok) {
  grpc_event ev = grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  assert_int_equal(ev.type, GRPC_OP_COMPLETE);
  if (ok != NULL) {
    *ok = ev.success != 0;
  }
}

/*
 * One call: sends the given messages (NULL-terminated array of buffers, taken
 * over), half-closes, reads every reply, then the status. md_key/md_value:
 * one request header (may be NULL). timeout_ms 0 = no deadline.
 */
static void call(const char *target, const char *method, grpc_byte_buffer **send, const char *md_key,
                 const char *md_value, int timeout_ms, result *r) {
  memset(r, 0, sizeof *r);
  grpc_channel_credentials *creds;
  grpc_arg arg[2];
  grpc_channel_args args = {0, arg};
  if (client_gzip) {
    arg[args.num_args].type = GRPC_ARG_INTEGER;
    arg[args.num_args].key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM;
    arg[args.num_args].value.integer = GRPC_COMPRESS_GZIP;
    args.num_args++;
  }
  if (client_tls.ca != NULL) {
    grpc_ssl_pem_key_cert_pair pair = {client_tls.key, client_tls.cert};
    creds = grpc_ssl_credentials_create(client_tls.ca, client_tls.cert != NULL ? &pair : NULL, NULL, NULL);
    arg[args.num_args].type = GRPC_ARG_STRING;
    arg[args.num_args].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
    arg[args.num_args].value.string = (char *)"localhost";
    args.num_args++;
  } else {
    creds = grpc_insecure_credentials_create();
  }
  grpc_channel *ch = grpc_channel_create(target, creds, &args);
  grpc_channel_credentials_release(creds);
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  gpr_timespec deadline = timeout_ms > 0 ? gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN))
                                         : gpr_inf_future(GPR_CLOCK_REALTIME);
  grpc_slice m = grpc_slice_from_static_string(method);
  grpc_call *c = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL, deadline, NULL);
  assert_non_null(c);

  grpc_metadata md[1];
  memset(md, 0, sizeof md);
  size_t n_md = 0;
  if (md_key != NULL) {
    md[0].key = grpc_slice_from_static_string(md_key);
    md[0].value = grpc_slice_from_static_string(md_value);
    n_md = 1;
  }
  grpc_metadata_array init_md, trail_md;
  grpc_metadata_array_init(&init_md);
  grpc_metadata_array_init(&trail_md);
  grpc_slice details;
  int tag_status, tag_op;

  /* Status first, so it is collected whatever happens to the other ops. */
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[0].data.recv_status_on_client.trailing_metadata = &trail_md;
  ops[0].data.recv_status_on_client.status = &r->status;
  ops[0].data.recv_status_on_client.status_details = &details;
  assert_int_equal(grpc_call_start_batch(c, ops, 1, &tag_status, NULL), GRPC_CALL_OK);

  int tag_init;
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[0].data.recv_initial_metadata.recv_initial_metadata = &init_md;
  assert_int_equal(grpc_call_start_batch(c, ops, 1, &tag_init, NULL), GRPC_CALL_OK);

  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[0].data.send_initial_metadata.count = n_md;
  ops[0].data.send_initial_metadata.metadata = md;
  assert_int_equal(grpc_call_start_batch(c, ops, 1, &tag_op, NULL), GRPC_CALL_OK);
  wait_tag(cq, &tag_op, NULL);

  bool ok = true;
  for (int i = 0; send != NULL && send[i] != NULL; i++) {
    if (ok) {
      memset(ops, 0, sizeof ops);
      ops[0].op = GRPC_OP_SEND_MESSAGE;
      ops[0].data.send_message.send_message = send[i];
      assert_int_equal(grpc_call_start_batch(c, ops, 1, &tag_op, NULL), GRPC_CALL_OK);
      wait_tag(cq, &tag_op, &ok);
    }
    grpc_byte_buffer_destroy(send[i]);
  }
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  assert_int_equal(grpc_call_start_batch(c, ops, 1, &tag_op, NULL), GRPC_CALL_OK);
  wait_tag(cq, &tag_op, NULL);

  wait_tag(cq, &tag_init, NULL);
  scan_md(&init_md, r);

  for (;;) {
    grpc_byte_buffer *bb = NULL;
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_MESSAGE;
    ops[0].data.recv_message.recv_message = &bb;
    assert_int_equal(grpc_call_start_batch(c, ops, 1, &tag_op, NULL), GRPC_CALL_OK);
    wait_tag(cq, &tag_op, &ok);
    if (!ok || bb == NULL) {
      break;
    }
    grpc_byte_buffer_reader rd;
    assert_true(grpc_byte_buffer_reader_init(&rd, bb));
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    SV *sv = google__protobuf__string_value__unpack(NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
    if (r->n < MAX_MSGS) {
      if (sv != NULL) {
        snprintf(r->msgs[r->n], sizeof r->msgs[0], "%s", sv->value);
      } else { /* another message type (health): keep the raw bytes in hex */
        for (size_t i = 0; i < GRPC_SLICE_LENGTH(all) && i < 100; i++) {
          snprintf(r->msgs[r->n] + 2 * i, 3, "%02x", GRPC_SLICE_START_PTR(all)[i]);
        }
      }
    }
    r->n++;
    if (sv != NULL) {
      google__protobuf__string_value__free_unpacked(sv, NULL);
    }
    grpc_slice_unref(all);
    grpc_byte_buffer_destroy(bb);
  }

  wait_tag(cq, &tag_status, NULL);
  copy_slice(r->message, sizeof r->message, details, NULL);
  scan_md(&trail_md, r);
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&init_md);
  grpc_metadata_array_destroy(&trail_md);
  grpc_call_unref(c);
  grpc_channel_destroy(ch);
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
}

static void unary(const fixture *f, const char *method, const char *value, result *r) {
  grpc_byte_buffer *send[] = {sv_buffer(value), NULL};
  call(f->target, method, send, NULL, NULL, 0, r);
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_unary_ok_and_metadata(void **state) {
  fixture *f = *state;
  result r;
  grpc_byte_buffer *send[] = {sv_buffer("hello"), NULL};
  atomic_store(&interceptor_order, 0);
  call(f->target, "/test.Svc/Echo", send, "x-in", "from-client", 5000, &r);
  assert_int_equal(r.status, GRPC_STATUS_OK);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.msgs[0], "hello");
  assert_string_equal(r.out_md, "from-client");
  assert_int_equal(r.trail_bin_len, 2);
  assert_memory_equal(r.trail_bin, "\x00\x01", 2);
  assert_int_equal(atomic_load(&interceptor_order), 12); /* outer, then inner */
}

static void test_empty_request(void **state) {
  fixture *f = *state;
  result r;
  /* An empty message is a valid StringValue with value "". */
  grpc_byte_buffer *send[] = {raw_buffer("", 0), NULL};
  call(f->target, "/test.Svc/Echo", send, NULL, NULL, 0, &r);
  assert_int_equal(r.status, GRPC_STATUS_OK);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.msgs[0], "");
  /* No message at all for a unary method. */
  call(f->target, "/test.Svc/Echo", NULL, NULL, NULL, 0, &r);
  assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_error_status(void **state) {
  fixture *f = *state;
  result r;
  unary(f, "/test.Svc/Echo", "fail", &r);
  assert_int_equal(r.status, GRPC_STATUS_NOT_FOUND);
  assert_string_equal(r.message, "no thing called fail");
  assert_int_equal(r.n, 0);
  assert_string_equal(r.why, "because");
  assert_int_equal(r.details_len, 2);

  unary(f, "/test.Svc/Echo", "bad-code", &r);
  assert_int_equal(r.status, GRPC_STATUS_UNKNOWN);

  unary(f, "/test.Svc/Echo", "bad-md", &r);
  assert_int_equal(r.status, GRPC_STATUS_OK);
  assert_string_equal(r.msgs[0], "refused");
}

static void test_interceptor_refuses(void **state) {
  fixture *f = *state;
  result r;
  int before = atomic_load(&handler_entered);
  grpc_byte_buffer *send[] = {sv_buffer("hello"), NULL};
  call(f->target, "/test.Svc/Echo", send, "x-deny", "1", 0, &r);
  assert_int_equal(r.status, GRPC_STATUS_PERMISSION_DENIED);
  assert_string_equal(r.message, "denied by interceptor");
  assert_int_equal(atomic_load(&handler_entered), before);

  grpc_byte_buffer *send2[] = {sv_buffer("hello"), NULL};
  call(f->target, "/test.Svc/Echo", send2, "x-twice", "1", 0, &r);
  assert_int_equal(r.status, GRPC_STATUS_INTERNAL);
  assert_int_equal(atomic_load(&handler_entered), before + 1);
}

static void test_unknown_method(void **state) {
  fixture *f = *state;
  result r;
  unary(f, "/test.Svc/Nope", "x", &r);
  assert_int_equal(r.status, GRPC_STATUS_UNIMPLEMENTED);
  assert_non_null(strstr(r.message, "/test.Svc/Nope"));
  assert_int_equal(r.n, 0);
  unary(f, "/other.Svc/Echo", "x", &r);
  assert_int_equal(r.status, GRPC_STATUS_UNIMPLEMENTED);
  assert_non_null(strstr(r.message, "/other.Svc/Echo"));
  unary(f, "no-slash", "x", &r);
  assert_int_equal(r.status, GRPC_STATUS_UNIMPLEMENTED);
}

static void test_garbage_bytes(void **state) {
  fixture *f = *state;
  result r;
  grpc_byte_buffer *send[] = {raw_buffer("\xff\xff\xff", 3), NULL};
  call(f->target, "/test.Svc/Echo", send, NULL, NULL, 0, &r);
  assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(r.message, "does not decode"));
  /* Garbage inside a request stream: the handler's read fails, the call ends INVALID_ARGUMENT. */
  grpc_byte_buffer *send2[] = {sv_buffer("a"), raw_buffer("\x0a\x05x", 3), NULL};
  call(f->target, "/test.Svc/Collect", send2, NULL, NULL, 0, &r);
  assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_deep_nesting(void **state) {
  fixture *f = *state;
  /* Value{list_value{values[Value{list_value{...}}]}} nested 120 times, built inside out. */
  enum { LEVELS = 120, CAP = 8192 }; /* 240 nested messages, under 1 KiB */
  uint8_t *buf = malloc(CAP);
  size_t start = CAP, len = 0;
  for (int i = 0; i < 2 * LEVELS; i++) {
    uint8_t tag = (i % 2 == 0) ? 0x0a /* ListValue.values */ : 0x32 /* Value.list_value */;
    uint8_t hdr[6];
    size_t h = 0;
    hdr[h++] = tag;
    size_t v = len;
    do {
      hdr[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
      v >>= 7;
    } while (v != 0);
    start -= h;
    memcpy(buf + start, hdr, h);
    len += h;
  }
  result r;
  grpc_byte_buffer *send[] = {raw_buffer(buf + start, len), NULL};
  call(f->target, "/test.Svc/Deep", send, NULL, NULL, 0, &r);
  assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(r.message, "deeper"));
  /* A shallow one decodes. */
  grpc_byte_buffer *send2[] = {raw_buffer("\x32\x02\x0a\x00", 4), NULL};
  call(f->target, "/test.Svc/Deep", send2, NULL, NULL, 0, &r);
  assert_int_equal(r.status, GRPC_STATUS_OK);
  assert_string_equal(r.msgs[0], "list");
  free(buf);
}

static void test_oversized(void **state) {
  fixture *f = *state;
  result r;
  char big[2000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  unary(f, "/test.Svc/Echo", big, &r); /* over max_receive_bytes = 1024 */
  assert_int_equal(r.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
  unary(f, "/test.Svc/Echo", "big", &r); /* response over max_send_bytes */
  assert_int_equal(r.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_non_null(strstr(r.message, "limit"));
  assert_int_equal(r.n, 0);
}

static void test_deadline(void **state) {
  fixture *f = *state;
  result r;
  atomic_store(&saw_cancel, 0);
  atomic_store(&saw_deadline, 0);
  grpc_byte_buffer *send[] = {sv_buffer("wait-cancel"), NULL};
  call(f->target, "/test.Svc/Echo", send, NULL, NULL, 300, &r);
  assert_int_equal(r.status, GRPC_STATUS_DEADLINE_EXCEEDED);
  /* The handler may still be finishing: wait for it (up to 20 s). */
  for (int i = 0; i < 2000 && !atomic_load(&saw_cancel); i++) {
    sleep_ms(10);
  }
  assert_int_equal(atomic_load(&saw_cancel), 1);
  assert_int_equal(atomic_load(&saw_deadline), 1);
}

/* The client cancels while the handler runs: the handler sees it (not as a deadline). */
static void test_client_cancel(void **state) {
  fixture *f = *state;
  atomic_store(&saw_cancel, 0);
  atomic_store(&saw_deadline, 0);
  int entered = atomic_load(&handler_entered);
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  grpc_channel *ch = grpc_channel_create(f->target, creds, NULL);
  grpc_channel_credentials_release(creds);
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_slice m = grpc_slice_from_static_string("/test.Svc/Echo");
  grpc_call *c = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                          gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_byte_buffer *bb = sv_buffer("wait-cancel");
  grpc_metadata_array trail;
  grpc_metadata_array_init(&trail);
  grpc_status_code status;
  grpc_slice details;
  grpc_op ops[4];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = bb;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[3].data.recv_status_on_client.trailing_metadata = &trail;
  ops[3].data.recv_status_on_client.status = &status;
  ops[3].data.recv_status_on_client.status_details = &details;
  int tag;
  assert_int_equal(grpc_call_start_batch(c, ops, 4, &tag, NULL), GRPC_CALL_OK);
  while (atomic_load(&handler_entered) == entered) {
    sleep_ms(5);
  }
  sleep_ms(50);
  grpc_call_cancel(c, NULL);
  wait_tag(cq, &tag, NULL);
  assert_int_equal(status, GRPC_STATUS_CANCELLED);
  for (int i = 0; i < 2000 && !atomic_load(&saw_cancel); i++) { /* up to 20 s */
    sleep_ms(10);
  }
  assert_int_equal(atomic_load(&saw_cancel), 1);
  assert_int_equal(atomic_load(&saw_deadline), 0);
  grpc_slice_unref(details);
  grpc_metadata_array_destroy(&trail);
  grpc_byte_buffer_destroy(bb);
  grpc_call_unref(c);
  grpc_channel_destroy(ch);
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
}

static void test_streams(void **state) {
  fixture *f = *state;
  result r;
  unary(f, "/test.Svc/Expand", "s", &r);
  assert_int_equal(r.n, 3);
  assert_string_equal(r.msgs[0], "s0");
  assert_string_equal(r.msgs[2], "s2");
  assert_string_equal(r.out_md, "yes");
  assert_int_equal(r.status, GRPC_STATUS_INTERNAL); /* the wrong-type write */

  grpc_byte_buffer *send[] = {sv_buffer("a"), sv_buffer("b"), sv_buffer("c"), NULL};
  call(f->target, "/test.Svc/Collect", send, NULL, NULL, 5000, &r);
  assert_int_equal(r.status, GRPC_STATUS_OK);
  assert_int_equal(r.n, 1);
  assert_string_equal(r.msgs[0], "a+b+c");

  call(f->target, "/test.Svc/Collect", NULL, NULL, NULL, 5000, &r);
  assert_int_equal(r.status, GRPC_STATUS_OK);
  assert_string_equal(r.msgs[0], "");

  grpc_byte_buffer *send2[] = {sv_buffer("x"), sv_buffer("y"), NULL};
  call(f->target, "/test.Svc/Chat", send2, NULL, NULL, 5000, &r);
  assert_int_equal(r.status, GRPC_STATUS_OK);
  assert_int_equal(r.n, 2);
  assert_string_equal(r.msgs[0], "re:x");
  assert_string_equal(r.msgs[1], "re:y");
}

static void test_many_calls(void **state) {
  fixture *f = *state;
  for (int i = 0; i < 50; i++) {
    result r;
    unary(f, "/test.Svc/Echo", "again", &r);
    assert_int_equal(r.status, GRPC_STATUS_OK);
  }
}

static void test_large_and_compressed(void **state) {
  (void)state;
  fixture *f = start_server(1000, 1 << 20);
  char *big = malloc(300 * 1024);
  for (int i = 0; i < 300 * 1024 - 1; i++) {
    big[i] = (char)('a' + i % 26);
  }
  big[300 * 1024 - 1] = '\0';
  for (int gz = 0; gz < 2; gz++) {
    client_gzip = gz != 0;
    result r;
    unary(f, "/test.Svc/Echo", big, &r); /* arrives in many slices */
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_int_equal(r.n, 1);
    assert_memory_equal(r.msgs[0], big, sizeof r.msgs[0] - 1);
    unary(f, "/test.Svc/Echo", "small", &r);
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_string_equal(r.msgs[0], "small");
  }
  /* gzip of a message that inflates past the limit. */
  char *huge = malloc(2 << 20);
  memset(huge, 'z', (2 << 20) - 1);
  huge[(2 << 20) - 1] = '\0';
  result r;
  unary(f, "/test.Svc/Echo", huge, &r);
  assert_int_equal(r.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
  client_gzip = false;
  free(huge);
  free(big);
  stop_server(f);
}

/* ---- life cycle ------------------------------------------------------------------------- */

typedef struct bg_call {
  const char *target;
  const char *value;
  result r;
  pthread_t thread;
} bg_call;

static void *bg_main(void *arg) {
  bg_call *b = arg;
  grpc_byte_buffer *send[] = {sv_buffer(b->value), NULL};
  call(b->target, "/test.Svc/Echo", send, NULL, NULL, 20000, &b->r);
  return NULL;
}

static void test_drain_in_flight_completes(void **state) {
  (void)state;
  fixture *f = start_server(30000, 1 << 20);
  bg_call b = {f->target, "slow:500", {0}, 0};
  int entered = atomic_load(&handler_entered);
  pthread_create(&b.thread, NULL, bg_main, &b);
  while (atomic_load(&handler_entered) == entered) {
    sleep_ms(5);
  }
  stop_server(f); /* drains: the call has 30 s to finish and needs 0.5 */
  pthread_join(b.thread, NULL);
  assert_int_equal(b.r.status, GRPC_STATUS_OK);
  assert_string_equal(b.r.msgs[0], "slept");
}

static void test_drain_past_grace_cancels(void **state) {
  (void)state;
  fixture *f = start_server(200, 1 << 20);
  atomic_store(&saw_cancel, 0);
  atomic_store(&saw_deadline, 0);
  bg_call b = {f->target, "wait-cancel", {0}, 0};
  int entered = atomic_load(&handler_entered);
  pthread_create(&b.thread, NULL, bg_main, &b);
  while (atomic_load(&handler_entered) == entered) {
    sleep_ms(5);
  }
  stop_server(f);
  pthread_join(b.thread, NULL);
  /* The handler saw the drain's cancel (not its deadline, 20 s away): had the
   * drain waited instead, its 10 s safety net would have run out without a
   * cancel, and saw_cancel would be 0. */
  assert_int_equal(atomic_load(&saw_cancel), 1);
  assert_int_equal(atomic_load(&saw_deadline), 0);
  assert_int_equal(b.r.status, GRPC_STATUS_UNAVAILABLE);
}

/* ---- the elastic worker pool --------------------------------------------------------- */

/* A health Watch held open by the test: it holds one server worker until cancelled. */
typedef struct open_watch {
  grpc_channel *ch;
  grpc_completion_queue *cq;
  grpc_call *call;
  grpc_metadata_array init_md, trail_md;
  grpc_status_code status;
  grpc_slice details;
  int tag_status;
} open_watch;

/* Opens a Watch on "" and waits for its first message (the stream runs on a worker). */
static void watch_open(const char *target, open_watch *w) {
  memset(w, 0, sizeof *w);
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  w->ch = grpc_channel_create(target, creds, NULL);
  grpc_channel_credentials_release(creds);
  w->cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_slice m = grpc_slice_from_static_string("/grpc.health.v1.Health/Watch");
  w->call = grpc_channel_create_call(w->ch, NULL, GRPC_PROPAGATE_DEFAULTS, w->cq, m, NULL,
                                     gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_metadata_array_init(&w->init_md);
  grpc_metadata_array_init(&w->trail_md);
  grpc_op ops[4];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[0].data.recv_status_on_client.trailing_metadata = &w->trail_md;
  ops[0].data.recv_status_on_client.status = &w->status;
  ops[0].data.recv_status_on_client.status_details = &w->details;
  assert_int_equal(grpc_call_start_batch(w->call, ops, 1, &w->tag_status, NULL), GRPC_CALL_OK);
  grpc_byte_buffer *req = raw_buffer("", 0);
  grpc_byte_buffer *first = NULL;
  int tag;
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = req;
  ops[2].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[2].data.recv_initial_metadata.recv_initial_metadata = &w->init_md;
  ops[3].op = GRPC_OP_RECV_MESSAGE;
  ops[3].data.recv_message.recv_message = &first;
  assert_int_equal(grpc_call_start_batch(w->call, ops, 4, &tag, NULL), GRPC_CALL_OK);
  bool ok = false;
  wait_tag(w->cq, &tag, &ok);
  assert_true(ok);
  assert_non_null(first); /* the current status: the handler runs */
  grpc_byte_buffer_destroy(first);
  grpc_byte_buffer_destroy(req);
}

static void watch_free(open_watch *w) {
  grpc_slice_unref(w->details);
  grpc_metadata_array_destroy(&w->init_md);
  grpc_metadata_array_destroy(&w->trail_md);
  grpc_call_unref(w->call);
  grpc_channel_destroy(w->ch);
  grpc_completion_queue_shutdown(w->cq);
  while (grpc_completion_queue_pluck(w->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(w->cq);
}

static void watch_close(open_watch *w) {
  grpc_call_cancel(w->call, NULL);
  wait_tag(w->cq, &w->tag_status, NULL);
  watch_free(w);
}

/* Reads what is left of an open Watch (messages in hex, as call() keeps them)
 * and its status into r, then frees it. */
static void watch_end(open_watch *w, result *r) {
  memset(r, 0, sizeof *r);
  for (;;) {
    grpc_byte_buffer *bb = NULL;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &bb;
    int tag;
    assert_int_equal(grpc_call_start_batch(w->call, &op, 1, &tag, NULL), GRPC_CALL_OK);
    bool ok = false;
    wait_tag(w->cq, &tag, &ok);
    if (!ok || bb == NULL) {
      break;
    }
    grpc_byte_buffer_reader rd;
    assert_true(grpc_byte_buffer_reader_init(&rd, bb));
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    if (r->n < MAX_MSGS) {
      for (size_t i = 0; i < GRPC_SLICE_LENGTH(all) && i < 100; i++) {
        snprintf(r->msgs[r->n] + 2 * i, 3, "%02x", GRPC_SLICE_START_PTR(all)[i]);
      }
    }
    r->n++;
    grpc_slice_unref(all);
    grpc_byte_buffer_destroy(bb);
  }
  wait_tag(w->cq, &w->tag_status, NULL);
  r->status = w->status;
  copy_slice(r->message, sizeof r->message, w->details, NULL);
  watch_free(w);
}

/*
 * A Watch stream must not hold the drain for the whole grace (grpc-core note
 * 8): the drain ends it with NOT_SERVING and the handler's own UNAVAILABLE
 * "server is shutting down". One that held the drain would be cut off when
 * the 20 s grace ran out, with the core's message instead.
 */
static void test_drain_ends_health_watch(void **state) {
  (void)state;
  fixture *f = start_server(20000, 1 << 20);
  open_watch w;
  watch_open(f->target, &w); /* returns once the stream runs and sent its first message */
  stop_server(f);
  result r;
  watch_end(&w, &r);
  assert_true(r.n >= 1);
  assert_string_equal(r.msgs[r.n - 1], "0802"); /* NOT_SERVING */
  assert_int_equal(r.status, GRPC_STATUS_UNAVAILABLE);
  assert_string_equal(r.message, "server is shutting down");
}

static void *bg_echo_main(void *arg) {
  bg_call *b = arg;
  grpc_byte_buffer *send[] = {sv_buffer(b->value), NULL};
  call(b->target, "/test.Svc/Echo", send, NULL, NULL, 20000, &b->r);
  return NULL;
}

/*
 * worker_threads is the most workers: the pool starts with one and grows
 * when a call takes the last idle one. Streams beyond the first worker do not
 * block unary calls; at the maximum a new call waits for a free worker, and
 * completes once one is free (it does not fail).
 */
static void test_elastic_pool(void **state) {
  (void)state;
  fixture *f = start_server_workers(2000, 1 << 20, 3);
  open_watch w[3];
  watch_open(f->target, &w[0]);
  watch_open(f->target, &w[1]); /* two streams: more than the one worker of the start */
  result r;
  unary(f, "/test.Svc/Echo", "still served", &r);
  assert_int_equal(r.status, GRPC_STATUS_OK);
  assert_string_equal(r.msgs[0], "still served");

  watch_open(f->target, &w[2]); /* the third and last worker: all are busy now */
  bg_call b = {f->target, "waits", {0}, 0};
  int entered = atomic_load(&handler_entered);
  pthread_create(&b.thread, NULL, bg_echo_main, &b);
  sleep_ms(500);
  assert_int_equal(atomic_load(&handler_entered), entered); /* waiting, not failed */
  watch_close(&w[0]); /* frees a worker, which takes the waiting call */
  pthread_join(b.thread, NULL);
  assert_int_equal(b.r.status, GRPC_STATUS_OK);
  assert_string_equal(b.r.msgs[0], "waits");
  watch_close(&w[1]);
  watch_close(&w[2]);
  stop_server(f);
}

/*
 * A unary handler that blocks does not block other calls: one worker polls
 * and runs short handlers inline, and a parked one takes over polling once
 * a handler holds the poller. Two rounds with only two workers, so the
 * worker that was released must park and be woken again in the second.
 */
static void test_blocked_unary_does_not_block_others(void **state) {
  (void)state;
  fixture *f = start_server_workers(2000, 1 << 20, 2);
  for (int round = 0; round < 2; round++) {
    atomic_store(&blocked_release, 0);
    result r;
    unary(f, "/test.Svc/Echo", "warm", &r); /* the pool is back to one poller */
    assert_int_equal(r.status, GRPC_STATUS_OK);
    bg_call b = {f->target, "block", {0}, 0};
    int entered = atomic_load(&handler_entered);
    pthread_create(&b.thread, NULL, bg_echo_main, &b);
    while (atomic_load(&handler_entered) == entered) {
      sleep_ms(1);
    }
    /* The blocked handler holds the worker that polled; this call must complete meanwhile. */
    grpc_byte_buffer *send[] = {sv_buffer("meanwhile"), NULL};
    call(f->target, "/test.Svc/Echo", send, NULL, NULL, 30000, &r); /* a hang fails, not hangs */
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_string_equal(r.msgs[0], "meanwhile");
    assert_int_equal(atomic_load(&blocked_release), 0); /* really while it was blocked */
    atomic_store(&blocked_release, 1);
    pthread_join(b.thread, NULL);
    assert_int_equal(b.r.status, GRPC_STATUS_OK);
    assert_string_equal(b.r.msgs[0], "released");
  }
  stop_server(f);
}

/* ---- TLS (certificates made with the openssl command; skipped without it) ------- */

static char tls_dir[64];

static char *slurp(const char *name) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", tls_dir, name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char *buf = calloc(1, 65536);
  fread(buf, 1, 65535, f);
  fclose(f);
  return buf;
}

static bool make_certs(void) {
  strcpy(tls_dir, "/tmp/shimkit-tls-XXXXXX");
  if (mkdtemp(tls_dir) == NULL) {
    return false;
  }
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "cd %s && { "
           "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=ca && "
           "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost && "
           "printf 'subjectAltName=DNS:localhost\n' > ext.cnf && "
           "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
           "-days 2 -extfile ext.cnf && "
           "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client && "
           "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem "
           "-days 2; } >/dev/null 2>&1",
           tls_dir);
  return system(cmd) == 0;
}

static void test_tls_and_mtls(void **state) {
  (void)state;
  if (!make_certs()) {
    skip();
  }
  char cert[128], key[128], ca[128];
  snprintf(cert, sizeof cert, "%s/server.pem", tls_dir);
  snprintf(key, sizeof key, "%s/server.key", tls_dir);
  snprintf(ca, sizeof ca, "%s/ca.pem", tls_dir);
  char *ca_pem = slurp("ca.pem");
  char *client_cert = slurp("client.pem");
  char *client_key = slurp("client.key");

  for (int mutual = 0; mutual < 2; mutual++) {
    shimkit_server_options opts;
    shimkit_server_options_init(&opts);
    opts.worker_threads = 2;
    opts.handle_signals = false;
    shimkit_server *srv = shimkit_server_new(&opts);
    shimkit_tls_options tls = {cert, key, mutual ? ca : NULL, mutual != 0};
    int port = 0;
    assert_int_equal(shimkit_server_add_listener(srv, "127.0.0.1:0", &tls, &port), SHIMKIT_OK);
    assert_int_equal(shimkit_server_add_service(srv, &test_service, &test_handlers, (void *)0x5eed),
                     SHIMKIT_OK);
    assert_int_equal(shimkit_server_start(srv), SHIMKIT_OK);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);

    result r;
    grpc_byte_buffer *send[] = {sv_buffer("secure"), NULL};
    client_tls.ca = ca_pem;
    client_tls.cert = mutual ? client_cert : NULL;
    client_tls.key = mutual ? client_key : NULL;
    call(target, "/test.Svc/Echo", send, NULL, NULL, 5000, &r);
    assert_int_equal(r.status, GRPC_STATUS_OK);
    assert_string_equal(r.msgs[0], "secure");

    if (mutual) { /* no client certificate: refused */
      client_tls.cert = NULL;
      client_tls.key = NULL;
      grpc_byte_buffer *send2[] = {sv_buffer("nocert"), NULL};
      call(target, "/test.Svc/Echo", send2, NULL, NULL, 3000, &r);
      assert_int_not_equal(r.status, GRPC_STATUS_OK);
    }
    client_tls.ca = NULL; /* plaintext to a TLS port: refused */
    grpc_byte_buffer *send3[] = {sv_buffer("plain"), NULL};
    call(target, "/test.Svc/Echo", send3, NULL, NULL, 3000, &r);
    assert_int_not_equal(r.status, GRPC_STATUS_OK);

    shimkit_server_shutdown(srv);
    shimkit_server_wait(srv);
    shimkit_server_free(srv);
  }
  /* A file that is not PEM. */
  shimkit_server *srv = shimkit_server_new(NULL);
  shimkit_tls_options bad = {"/etc/hostname", key, NULL, false};
  assert_int_equal(shimkit_server_add_listener(srv, "127.0.0.1:0", &bad, NULL), SHIMKIT_INVALID_ARGUMENT);
  shimkit_server_free(srv);

  free(ca_pem);
  free(client_cert);
  free(client_key);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tls_dir);
  assert_int_equal(system(cmd), 0);
}

static void test_lifecycle_errors(void **state) {
  (void)state;
  shimkit_server_options opts;
  shimkit_server_options_init(&opts);
  opts.handle_signals = false;
  opts.worker_threads = 0;
  assert_null(shimkit_server_new(&opts));
  opts.worker_threads = 2;
  opts.max_receive_bytes = -1;
  assert_null(shimkit_server_new(&opts));
  opts.max_receive_bytes = 1024;

  shimkit_server *srv = shimkit_server_new(&opts);
  assert_non_null(srv);
  assert_int_equal(shimkit_server_start(srv), SHIMKIT_FAILED_PRECONDITION); /* no listener */
  int port = 0;
  assert_int_equal(shimkit_server_add_listener(srv, "127.0.0.1:0", NULL, &port), SHIMKIT_OK);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  /* The same port twice: refused (SO_REUSEPORT is off). */
  shimkit_server *other = shimkit_server_new(&opts);
  int p2 = -1;
  assert_int_equal(shimkit_server_add_listener(other, addr, NULL, &p2), SHIMKIT_UNAVAILABLE);
  assert_int_equal(p2, 0);
  shimkit_server_free(other); /* never started, has no port */

  shimkit_tls_options tls = {"/nonexistent/cert.pem", "/nonexistent/key.pem", NULL, false};
  assert_int_equal(shimkit_server_add_listener(srv, "127.0.0.1:0", &tls, NULL), SHIMKIT_INVALID_ARGUMENT);
  tls.require_client_cert = true;
  assert_int_equal(shimkit_server_add_listener(srv, "127.0.0.1:0", &tls, NULL), SHIMKIT_INVALID_ARGUMENT);

  assert_int_equal(shimkit_server_add_service(srv, &test_service, &test_handlers, NULL), SHIMKIT_OK);
  assert_int_equal(shimkit_server_add_service(srv, &test_service, &test_handlers, NULL),
                   SHIMKIT_ALREADY_EXISTS);
  shimkit_service_desc old = test_service;
  old.abi_version = 0;
  old.full_name = "test.Old";
  assert_int_equal(shimkit_server_add_service(srv, &old, &test_handlers, NULL), SHIMKIT_FAILED_PRECONDITION);
  shimkit_method_desc unsorted[2] = {test_methods[1], test_methods[0]};
  shimkit_service_desc bad = test_service;
  bad.full_name = "test.Bad";
  bad.n_methods = 2;
  bad.methods = unsorted;
  assert_int_equal(shimkit_server_add_service(srv, &bad, &test_handlers, NULL), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_server_add_service(srv, NULL, &test_handlers, NULL), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_server_set_health(srv, "test.Svc", SHIMKIT_HEALTH_NOT_SERVING), SHIMKIT_OK);
  assert_int_equal(shimkit_server_set_health(srv, "x", (shimkit_health_status)7), SHIMKIT_INVALID_ARGUMENT);
  /* A front's peer key: a plain lower-case metadata key, set before start. */
  static const char *const bad_keys[] = {"", "X-Peer", "x peer", "grpc-peer", "x-peer-bin",
                                         "a-key-that-is-longer-than-sixty-three-bytes-is-not-taken-xxxxxxxx"};
  for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
    assert_int_equal(shimkit_server_set_front_peer_key(srv, bad_keys[i]), SHIMKIT_INVALID_ARGUMENT);
  }
  assert_int_equal(shimkit_server_set_front_peer_key(srv, NULL), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_server_set_front_peer_key(srv, "x-front.peer_1"), SHIMKIT_OK);

  assert_int_equal(shimkit_server_start(srv), SHIMKIT_OK);
  assert_int_equal(shimkit_server_start(srv), SHIMKIT_FAILED_PRECONDITION);
  assert_int_equal(shimkit_server_set_front_peer_key(srv, "x-peer"), SHIMKIT_FAILED_PRECONDITION);
  assert_int_equal(shimkit_server_add_listener(srv, "127.0.0.1:0", NULL, NULL), SHIMKIT_FAILED_PRECONDITION);
  shimkit_service_desc later = test_service;
  later.full_name = "test.Later";
  assert_int_equal(shimkit_server_add_service(srv, &later, &test_handlers, NULL),
                   SHIMKIT_FAILED_PRECONDITION);
  assert_int_equal(shimkit_server_add_interceptor(srv, outer, NULL), SHIMKIT_FAILED_PRECONDITION);
  shimkit_server_shutdown(srv);
  shimkit_server_shutdown(srv); /* idempotent */
  shimkit_server_wait(srv);
  shimkit_server_wait(srv); /* returns at once once stopped */
  shimkit_server_free(srv);
  shimkit_server_free(NULL);
}

static void *raise_later(void *arg) {
  (void)arg;
  sleep_ms(200);
  raise(SIGTERM); /* reaches the flag set by the server's handler, whichever thread takes it */
  return NULL;
}

static void test_signal_stops_wait(void **state) {
  (void)state;
  shimkit_server_options opts;
  shimkit_server_options_init(&opts);
  opts.worker_threads = 2;
  opts.handle_signals = true;
  shimkit_server *srv = shimkit_server_new(&opts);
  assert_int_equal(shimkit_server_add_listener(srv, "127.0.0.1:0", NULL, NULL), SHIMKIT_OK);
  assert_int_equal(shimkit_server_start(srv), SHIMKIT_OK);
  pthread_t t;
  pthread_create(&t, NULL, raise_later, NULL);
  shimkit_server_wait(srv); /* returns because of SIGTERM */
  pthread_join(t, NULL);
  shimkit_server_free(srv);
  struct sigaction now;
  sigaction(SIGTERM, NULL, &now);
  assert_ptr_equal(now.sa_handler, SIG_DFL); /* the previous disposition is back */
}

static void test_free_without_start(void **state) {
  (void)state;
  shimkit_server *srv = shimkit_server_new(NULL);
  assert_non_null(srv);
  assert_int_equal(shimkit_server_add_listener(srv, "127.0.0.1:0", NULL, NULL), SHIMKIT_OK);
  shimkit_server_free(srv);
  /* Free of a running server drains it. */
  fixture *f = start_server(1000, 1024);
  shimkit_server_free(f->srv);
  free(f);
}

int main(void) {
  grpc_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_unary_ok_and_metadata, setup, teardown),
      cmocka_unit_test_setup_teardown(test_empty_request, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_status, setup, teardown),
      cmocka_unit_test_setup_teardown(test_interceptor_refuses, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unknown_method, setup, teardown),
      cmocka_unit_test_setup_teardown(test_garbage_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deep_nesting, setup, teardown),
      cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_cancel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_streams, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_calls, setup, teardown),
      cmocka_unit_test(test_large_and_compressed),
      cmocka_unit_test(test_drain_in_flight_completes),
      cmocka_unit_test(test_drain_past_grace_cancels),
      cmocka_unit_test(test_drain_ends_health_watch),
      cmocka_unit_test(test_elastic_pool),
      cmocka_unit_test(test_blocked_unary_does_not_block_others),
      cmocka_unit_test(test_tls_and_mtls),
      cmocka_unit_test(test_lifecycle_errors),
      cmocka_unit_test(test_signal_stops_wait),
      cmocka_unit_test(test_free_without_start),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  grpc_shutdown();
  return rc;
}
