/*
 * test_client.c - the client API (client.c, channel.c) against a real
 * shimkit server in the same process, on 127.0.0.1 with a free port.
 *
 * The service under test is written by hand here (a shimkit_service_desc
 * over google.protobuf.StringValue), so these tests need neither the code
 * generator nor any .proto of their own. Requests are small commands:
 *   Unary        "echo:X" -> "X" (plus metadata echo), "fail" -> NOT_FOUND with
 *                message and details, "sleep:MS" -> sleeps, polling cancellation
 *   ServerStream "N" -> N replies "0".."N-1"; "forever" -> until cancelled
 *   ClientStream joins every request with ','
 *   Bidi         one "echo:X" per request X
 * TLS and mutual TLS use certificates made at test time by gen_test_certs.sh.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "google/protobuf/wrappers.pb-c.h"
#include "shimkit/shimkit.h"

/* ---- the hand-written test service ----------------------------------------------- */

static atomic_int handler_saw_cancel; /* a handler noticed its call was cancelled */

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Request header x-test: V comes back as header x-echo: V, trailers x-trailer: t-V and x-raw-bin. */
static void echo_metadata(shimkit_call *call) {
  size_t len;
  const char *md = shimkit_call_metadata_get(call, "x-test", &len);
  if (md != NULL) {
    shimkit_call_add_initial_metadata(call, "x-echo", md, len);
    char t[128];
    snprintf(t, sizeof t, "t-%s", md);
    shimkit_call_add_trailing_metadata(call, "x-trailer", t, strlen(t));
    static const unsigned char bin[] = {0, 1, 2, 255};
    shimkit_call_add_trailing_metadata(call, "x-raw-bin", bin, sizeof bin);
  }
}

static shimkit_code unary(shimkit_call *call, const Google__Protobuf__StringValue *req,
                          Google__Protobuf__StringValue *resp) {
  const char *v = req->value;
  if (strncmp(v, "echo:", 5) == 0) {
    echo_metadata(call);
    resp->value = shimkit_call_strdup(call, v + 5);
    return SHIMKIT_OK;
  }
  if (strcmp(v, "fail") == 0) {
    static const unsigned char details[] = {0x08, 0x05, 0x12, 0x02, 'n', 'o', 0x00, 0xff};
    shimkit_call_set_error_details(call, details, sizeof details);
    return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "no such thing: %s", "widget");
  }
  if (strncmp(v, "sleep:", 6) == 0) {
    int ms = atoi(v + 6);
    for (int waited = 0; waited < ms; waited += 10) {
      if (shimkit_call_is_cancelled(call)) {
        atomic_store(&handler_saw_cancel, 1);
        return SHIMKIT_CANCELLED;
      }
      sleep_ms(10);
    }
    resp->value = (char *)"slept";
    return SHIMKIT_OK;
  }
  if (strcmp(v, "big") == 0) {
    char *big = shimkit_call_alloc(call, 100001);
    memset(big, 'x', 100000);
    resp->value = big;
    return SHIMKIT_OK;
  }
  resp->value = (char *)v;
  return SHIMKIT_OK;
}

static shimkit_code server_stream(shimkit_call *call, const Google__Protobuf__StringValue *req) {
  Google__Protobuf__StringValue out = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
  char buf[32];
  out.value = buf;
  echo_metadata(call);
  if (strcmp(req->value, "forever") == 0) {
    for (int i = 0;; i++) {
      snprintf(buf, sizeof buf, "%d", i);
      if (shimkit_call_write(call, &out.base) != 0 || shimkit_call_is_cancelled(call)) {
        atomic_store(&handler_saw_cancel, 1);
        return SHIMKIT_CANCELLED;
      }
      sleep_ms(5);
    }
  }
  int n = atoi(req->value);
  for (int i = 0; i < n; i++) {
    snprintf(buf, sizeof buf, "%d", i);
    if (shimkit_call_write(call, &out.base) != 0) {
      return SHIMKIT_CANCELLED;
    }
  }
  return SHIMKIT_OK;
}

static shimkit_code client_stream(shimkit_call *call, Google__Protobuf__StringValue *resp) {
  char joined[256] = "";
  ProtobufCMessage *m;
  int rc;
  while ((rc = shimkit_call_read(call, &m)) == 1) {
    const Google__Protobuf__StringValue *s = (const Google__Protobuf__StringValue *)m;
    if (joined[0] != '\0') {
      strncat(joined, ",", sizeof joined - strlen(joined) - 1);
    }
    strncat(joined, s->value, sizeof joined - strlen(joined) - 1);
  }
  if (rc < 0) {
    return SHIMKIT_CANCELLED;
  }
  resp->value = shimkit_call_strdup(call, joined);
  return SHIMKIT_OK;
}

static shimkit_code bidi(shimkit_call *call) {
  ProtobufCMessage *m;
  int rc;
  while ((rc = shimkit_call_read(call, &m)) == 1) {
    const Google__Protobuf__StringValue *s = (const Google__Protobuf__StringValue *)m;
    char buf[256];
    snprintf(buf, sizeof buf, "echo:%s", s->value);
    Google__Protobuf__StringValue out = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
    out.value = buf;
    if (shimkit_call_write(call, &out.base) != 0) {
      return SHIMKIT_CANCELLED;
    }
  }
  return rc == 0 ? SHIMKIT_OK : SHIMKIT_CANCELLED;
}

/* One trampoline for all four methods: the kind says which. */
static shimkit_code invoke(const void *handlers, shimkit_call *call, const ProtobufCMessage *request,
                           ProtobufCMessage *response, void *user_data) {
  (void)handlers;
  (void)user_data;
  switch (shimkit_call_method_desc(call)->kind) {
  case SHIMKIT_METHOD_UNARY:
    return unary(call, (const Google__Protobuf__StringValue *)request,
                 (Google__Protobuf__StringValue *)response);
  case SHIMKIT_METHOD_SERVER_STREAMING:
    return server_stream(call, (const Google__Protobuf__StringValue *)request);
  case SHIMKIT_METHOD_CLIENT_STREAMING: return client_stream(call, (Google__Protobuf__StringValue *)response);
  case SHIMKIT_METHOD_BIDI_STREAMING: return bidi(call);
  }
  return SHIMKIT_UNIMPLEMENTED;
}

#define SV (&google__protobuf__string_value__descriptor)
static const shimkit_method_desc test_methods[] = {
    {"/shimkit.test.Echo/Bidi", "Bidi", SHIMKIT_METHOD_BIDI_STREAMING, SV, SV, invoke},
    {"/shimkit.test.Echo/ClientStream", "ClientStream", SHIMKIT_METHOD_CLIENT_STREAMING, SV, SV, invoke},
    {"/shimkit.test.Echo/ServerStream", "ServerStream", SHIMKIT_METHOD_SERVER_STREAMING, SV, SV, invoke},
    {"/shimkit.test.Echo/Unary", "Unary", SHIMKIT_METHOD_UNARY, SV, SV, invoke},
};
static const shimkit_service_desc test_service = {
    SHIMKIT_ABI_VERSION, "shimkit.test.Echo", "shimkit/test/echo.proto", 4, test_methods, 0, NULL};
static const int test_handlers = 0; /* the table is unused: invoke dispatches by kind */

static const shimkit_method_desc *const m_bidi = &test_methods[0];
static const shimkit_method_desc *const m_client = &test_methods[1];
static const shimkit_method_desc *const m_server = &test_methods[2];
static const shimkit_method_desc *const m_unary = &test_methods[3];

/* The Unary method as a client that expects an Int32Value back: replies do not decode. */
static const shimkit_method_desc m_unary_wrong_type = {"/shimkit.test.Echo/Unary",
                                                       "Unary",
                                                       SHIMKIT_METHOD_UNARY,
                                                       SV,
                                                       &google__protobuf__int32_value__descriptor,
                                                       invoke};
static const shimkit_method_desc m_missing = {
    "/shimkit.test.Echo/Missing", "Missing", SHIMKIT_METHOD_UNARY, SV, SV, invoke};

/* ---- fixtures --------------------------------------------------------------------- */

struct fixture {
  shimkit_server *srv;
  shimkit_channel *ch;
  char target[64];
  char certs[128]; /* temp dir with the test PKI, or "" */
};

static shimkit_server *start_server(const shimkit_tls_options *tls, int *port) {
  shimkit_server_options o;
  shimkit_server_options_init(&o);
  o.worker_threads = 4;
  o.handle_signals = false;
  o.access_log = false;
  o.drain_grace_ms = 200;
  shimkit_server *srv = shimkit_server_new(&o);
  assert_non_null(srv);
  assert_int_equal(shimkit_server_add_service(srv, &test_service, &test_handlers, NULL), SHIMKIT_OK);
  assert_int_equal(shimkit_server_add_listener(srv, "127.0.0.1:0", tls, port), SHIMKIT_OK);
  assert_true(*port > 0);
  assert_int_equal(shimkit_server_start(srv), SHIMKIT_OK);
  return srv;
}

static void stop_server(shimkit_server *srv) {
  shimkit_server_shutdown(srv);
  shimkit_server_wait(srv);
  shimkit_server_free(srv);
}

static int setup_plain(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  int port = 0;
  f->srv = start_server(NULL, &port);
  snprintf(f->target, sizeof f->target, "127.0.0.1:%d", port);
  f->ch = shimkit_channel_new(f->target, NULL, 0);
  assert_non_null(f->ch);
  atomic_store(&handler_saw_cancel, 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  shimkit_channel_free(f->ch);
  stop_server(f->srv);
  if (f->certs[0] != '\0') {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->certs);
    if (system(cmd) != 0) {
      fprintf(stderr, "could not remove %s\n", f->certs);
    }
  }
  free(f);
  return 0;
}

static Google__Protobuf__StringValue sv(const char *s) {
  Google__Protobuf__StringValue v = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
  v.value = (char *)s;
  return v;
}

/* Unary call with a string; returns the code, *out the reply value (heap) or NULL. */
static shimkit_code call_unary(shimkit_channel *ch, const char *value, char **out,
                               const shimkit_call_options *opts) {
  Google__Protobuf__StringValue req = sv(value);
  ProtobufCMessage *resp = NULL;
  shimkit_code code = shimkit_unary_call(ch, m_unary, &req.base, &resp, opts);
  if (out != NULL) {
    *out = NULL;
  }
  if (resp != NULL) {
    if (out != NULL) {
      *out = strdup(((Google__Protobuf__StringValue *)resp)->value);
    }
    protobuf_c_message_free_unpacked(resp, NULL);
  }
  return code;
}

static void wait_for_flag(atomic_int *flag) {
  for (int i = 0; i < 2000 && atomic_load(flag) == 0; i++) { /* up to 20 s: a wait, not a bound */
    sleep_ms(10);
  }
  assert_int_equal(atomic_load(flag), 1);
}

/* ---- unary ------------------------------------------------------------------------ */

static void test_unary_ok(void **state) {
  struct fixture *f = *state;
  char *out;
  assert_int_equal(call_unary(f->ch, "echo:hello", &out, NULL), SHIMKIT_OK);
  assert_string_equal(out, "hello");
  free(out);
}

static void test_unary_metadata_both_ways(void **state) {
  struct fixture *f = *state;
  shimkit_metadata *md = shimkit_metadata_new();
  shimkit_metadata *init = shimkit_metadata_new();
  shimkit_metadata *trail = shimkit_metadata_new();
  shimkit_status st = {0};
  assert_int_equal(shimkit_metadata_add_string(md, "x-test", "abc"), SHIMKIT_OK);
  shimkit_call_options opts = {.metadata = md, .initial_out = init, .trailing_out = trail, .status_out = &st};
  char *out;
  /* Twice with the same out-pointers: the second call must replace, not append or leak. */
  for (int round = 0; round < 2; round++) {
    assert_int_equal(call_unary(f->ch, "echo:x", &out, &opts), SHIMKIT_OK);
    assert_string_equal(out, "x");
    free(out);
    size_t len;
    assert_string_equal(shimkit_metadata_get(init, "x-echo", NULL), "abc");
    assert_string_equal(shimkit_metadata_get(trail, "x-trailer", NULL), "t-abc");
    const char *bin = shimkit_metadata_get(trail, "x-raw-bin", &len);
    assert_non_null(bin);
    assert_int_equal(len, 4);
    assert_memory_equal(bin, "\x00\x01\x02\xff", 4);
    assert_int_equal(st.code, SHIMKIT_OK);
    assert_null(st.message);
    assert_null(st.details);
  }
  shimkit_status_clear(&st);
  shimkit_metadata_free(md);
  shimkit_metadata_free(init);
  shimkit_metadata_free(trail);
}

static void test_unary_error_with_details(void **state) {
  struct fixture *f = *state;
  shimkit_status st = {0};
  shimkit_call_options opts = {.status_out = &st};
  char *out;
  assert_int_equal(call_unary(f->ch, "fail", &out, &opts), SHIMKIT_NOT_FOUND);
  assert_null(out);
  assert_int_equal(st.code, SHIMKIT_NOT_FOUND);
  assert_non_null(st.message);
  assert_string_equal(st.message, "no such thing: widget");
  assert_non_null(st.details);
  assert_int_equal(st.details_len, 8);
  assert_memory_equal(st.details, "\x08\x05\x12\x02no\x00\xff", 8);
  shimkit_status_clear(&st);
}

static void test_unary_deadline_exceeded(void **state) {
  struct fixture *f = *state;
  shimkit_status st = {0};
  /* The deadline must leave the call time to reach the handler: one that
   * expires while the call waits for a server thread (100 ms did on a busy
   * CI machine) kills it in gRPC core before any handler runs, and then no
   * handler can notice. The handler ends as soon as it sees the deadline. */
  shimkit_call_options opts = {.timeout_ms = 1000, .status_out = &st};
  char *out;
  assert_int_equal(call_unary(f->ch, "sleep:30000", &out, &opts), SHIMKIT_DEADLINE_EXCEEDED);
  assert_null(out);
  assert_int_equal(st.code, SHIMKIT_DEADLINE_EXCEEDED);
  shimkit_status_clear(&st);
  wait_for_flag(&handler_saw_cancel); /* the server noticed, too */
  /* A deadline that is long enough does not get in the way. */
  opts.timeout_ms = 5000;
  assert_int_equal(call_unary(f->ch, "sleep:20", &out, &opts), SHIMKIT_OK);
  assert_string_equal(out, "slept");
  free(out);
  shimkit_status_clear(&st);
}

static void test_unary_bad_response_is_internal(void **state) {
  struct fixture *f = *state;
  Google__Protobuf__StringValue req = sv("plain text");
  ProtobufCMessage *resp = (ProtobufCMessage *)1;
  shimkit_status st = {0};
  shimkit_call_options opts = {.status_out = &st};
  assert_int_equal(shimkit_unary_call(f->ch, &m_unary_wrong_type, &req.base, &resp, &opts), SHIMKIT_INTERNAL);
  assert_null(resp);
  assert_non_null(st.message);
  assert_non_null(strstr(st.message, "does not decode"));
  shimkit_status_clear(&st);
}

static void test_unary_unknown_method(void **state) {
  struct fixture *f = *state;
  Google__Protobuf__StringValue req = sv("x");
  ProtobufCMessage *resp;
  assert_int_equal(shimkit_unary_call(f->ch, &m_missing, &req.base, &resp, NULL), SHIMKIT_UNIMPLEMENTED);
  assert_null(resp);
}

static void test_unary_bad_arguments(void **state) {
  struct fixture *f = *state;
  Google__Protobuf__StringValue req = sv("x");
  Google__Protobuf__Int32Value wrong = GOOGLE__PROTOBUF__INT32_VALUE__INIT;
  ProtobufCMessage *resp;
  shimkit_status st = {0};
  shimkit_call_options opts = {.status_out = &st};
  assert_int_equal(shimkit_unary_call(NULL, m_unary, &req.base, &resp, &opts), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(st.code, SHIMKIT_INVALID_ARGUMENT);
  assert_non_null(st.message);
  assert_int_equal(shimkit_unary_call(f->ch, m_unary, &wrong.base, &resp, &opts), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_unary_call(f->ch, NULL, &req.base, &resp, NULL), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_unary_call(f->ch, m_unary, &req.base, NULL, NULL), SHIMKIT_INVALID_ARGUMENT);
  /* Metadata gRPC refuses (a control character in a text value) never reaches the wire. */
  shimkit_metadata *md = shimkit_metadata_new();
  if (shimkit_metadata_add(md, "x-test", "a\nb", 3) == SHIMKIT_OK) {
    shimkit_call_options bad = {.metadata = md, .status_out = &st};
    assert_int_equal(shimkit_unary_call(f->ch, m_unary, &req.base, &resp, &bad), SHIMKIT_INVALID_ARGUMENT);
    shimkit_client_call *c = shimkit_client_call_start(f->ch, m_bidi, &bad);
    assert_non_null(c);
    assert_int_equal(shimkit_client_call_send(c, &req.base), -1);
    assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_INVALID_ARGUMENT);
  }
  shimkit_metadata_free(md);
  shimkit_status_clear(&st);
  assert_int_equal(shimkit_client_call_finish(NULL), SHIMKIT_INVALID_ARGUMENT);
  assert_null(shimkit_client_call_start(NULL, m_unary, NULL));
}

static void test_unary_max_receive(void **state) {
  struct fixture *f = *state;
  shimkit_channel *small = shimkit_channel_new(f->target, NULL, 1000);
  assert_non_null(small);
  char *out;
  assert_int_equal(call_unary(small, "big", &out, NULL), SHIMKIT_RESOURCE_EXHAUSTED);
  assert_null(out);
  assert_int_equal(call_unary(small, "echo:small", &out, NULL), SHIMKIT_OK);
  free(out);
  shimkit_channel_free(small);
  /* The default (4 MiB) takes it. */
  assert_int_equal(call_unary(f->ch, "big", &out, NULL), SHIMKIT_OK);
  assert_int_equal(strlen(out), 100000);
  free(out);
}

static void test_unreachable_server(void **state) {
  (void)state;
  /* Bind a port, close it: nothing listens there now. */
  int port = 0;
  shimkit_server *srv = start_server(NULL, &port);
  stop_server(srv);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  shimkit_channel *ch = shimkit_channel_new(target, NULL, 0);
  assert_non_null(ch);
  shimkit_call_options opts = {.timeout_ms = 5000};
  char *out;
  assert_int_equal(call_unary(ch, "echo:x", &out, &opts), SHIMKIT_UNAVAILABLE);
  shimkit_channel_free(ch);
}

struct hammer_args {
  shimkit_channel *ch;
  int id;
  int ok;
};

static void *hammer(void *p) {
  struct hammer_args *a = p;
  for (int i = 0; i < 50; i++) {
    char msg[32];
    snprintf(msg, sizeof msg, "echo:%d-%d", a->id, i);
    char *out = NULL;
    if (call_unary(a->ch, msg, &out, NULL) == SHIMKIT_OK && out != NULL && strcmp(out, msg + 5) == 0) {
      a->ok++;
    }
    free(out);
  }
  return NULL;
}

static void test_unary_many_threads_one_channel(void **state) {
  struct fixture *f = *state;
  enum { N = 8 };
  pthread_t t[N];
  struct hammer_args a[N];
  for (int i = 0; i < N; i++) {
    a[i] = (struct hammer_args){f->ch, i, 0};
    assert_int_equal(pthread_create(&t[i], NULL, hammer, &a[i]), 0);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(a[i].ok, 50);
  }
}

/* ---- streaming ------------------------------------------------------------------- */

static char *recv_value(shimkit_client_call *c, int *rc) {
  ProtobufCMessage *m = NULL;
  *rc = shimkit_client_call_recv(c, &m);
  if (*rc != 1) {
    assert_null(m);
    return NULL;
  }
  char *v = strdup(((Google__Protobuf__StringValue *)m)->value);
  protobuf_c_message_free_unpacked(m, NULL);
  return v;
}

/* ---- responses decoded with the caller's allocator (shimkit/arena.h) ---------------- */

typedef struct counting_alloc {
  ProtobufCAllocator pb;    /* what the call gets */
  ProtobufCAllocator *real; /* an arena's */
  int allocs, frees;
} counting_alloc;

static void *count_alloc(void *data, size_t size) {
  counting_alloc *c = data;
  c->allocs++;
  return c->real->alloc(c->real->allocator_data, size);
}

static void count_free(void *data, void *ptr) {
  counting_alloc *c = data;
  c->frees++;
  c->real->free(c->real->allocator_data, ptr);
}

static void test_responses_into_an_arena(void **state) {
  struct fixture *f = *state;
  shimkit_arena *arena = shimkit_arena_new(0);
  assert_non_null(arena);
  counting_alloc ca = {.pb = {count_alloc, count_free, &ca}, .real = shimkit_arena_allocator(arena)};
  shimkit_call_options opts = {.timeout_ms = 10000, .allocator = &ca.pb};

  Google__Protobuf__StringValue req = sv("echo:into the arena");
  ProtobufCMessage *resp = NULL;
  assert_int_equal(shimkit_unary_call(f->ch, m_unary, &req.base, &resp, &opts), SHIMKIT_OK);
  assert_string_equal(((Google__Protobuf__StringValue *)resp)->value, "into the arena");
  assert_true(ca.allocs >= 2); /* the message and its string */
  int after_unary = ca.allocs;

  shimkit_client_call *c = shimkit_client_call_start(f->ch, m_server, &opts);
  assert_non_null(c);
  Google__Protobuf__StringValue n = sv("3");
  assert_int_equal(shimkit_client_call_send(c, &n.base), 0);
  assert_int_equal(shimkit_client_call_close_send(c), 0);
  ProtobufCMessage *m = NULL;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(shimkit_client_call_recv(c, &m), 1);
    char want[8];
    snprintf(want, sizeof want, "%d", i);
    assert_string_equal(((Google__Protobuf__StringValue *)m)->value, want);
  }
  assert_int_equal(shimkit_client_call_recv(c, &m), 0);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_OK);
  assert_true(ca.allocs > after_unary);
  assert_int_equal(ca.frees, 0);

  shimkit_arena_reset(arena); /* frees every response at once (ASan would see a leak otherwise) */
  shimkit_arena_reset(NULL);
  assert_null(shimkit_arena_allocator(NULL));
  shimkit_arena_free(arena);
  shimkit_arena_free(NULL);
}

static void test_server_streaming(void **state) {
  struct fixture *f = *state;
  shimkit_status st = {0};
  shimkit_metadata *md = shimkit_metadata_new();
  shimkit_metadata *init = shimkit_metadata_new();
  shimkit_metadata *trail = shimkit_metadata_new();
  shimkit_metadata_add_string(md, "x-test", "stream");
  shimkit_call_options opts = {
      .status_out = &st, .timeout_ms = 10000, .metadata = md, .initial_out = init, .trailing_out = trail};
  shimkit_client_call *c = shimkit_client_call_start(f->ch, m_server, &opts);
  assert_non_null(c);
  Google__Protobuf__StringValue req = sv("5");
  assert_int_equal(shimkit_client_call_send(c, &req.base), 0);
  assert_int_equal(shimkit_client_call_close_send(c), 0);
  for (int i = 0; i < 5; i++) {
    int rc;
    char *v = recv_value(c, &rc);
    assert_int_equal(rc, 1);
    char want[8];
    snprintf(want, sizeof want, "%d", i);
    assert_string_equal(v, want);
    free(v);
  }
  int rc;
  assert_null(recv_value(c, &rc));
  assert_int_equal(rc, 0);
  assert_int_equal(recv_value(c, &rc), NULL); /* stays at the end */
  assert_int_equal(rc, 0);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_OK);
  assert_int_equal(st.code, SHIMKIT_OK);
  assert_string_equal(shimkit_metadata_get(init, "x-echo", NULL), "stream");
  assert_string_equal(shimkit_metadata_get(trail, "x-trailer", NULL), "t-stream");
  shimkit_status_clear(&st);
  shimkit_metadata_free(md);
  shimkit_metadata_free(init);
  shimkit_metadata_free(trail);
}

static void test_client_streaming(void **state) {
  struct fixture *f = *state;
  shimkit_client_call *c = shimkit_client_call_start(f->ch, m_client, NULL);
  assert_non_null(c);
  const char *parts[] = {"a", "b", "c"};
  for (int i = 0; i < 3; i++) {
    Google__Protobuf__StringValue req = sv(parts[i]);
    assert_int_equal(shimkit_client_call_send(c, &req.base), 0);
  }
  /* Sending a message of another type is refused locally. */
  Google__Protobuf__Int32Value wrong = GOOGLE__PROTOBUF__INT32_VALUE__INIT;
  assert_int_equal(shimkit_client_call_send(c, &wrong.base), -1);
  assert_int_equal(shimkit_client_call_close_send(c), 0);
  Google__Protobuf__StringValue late = sv("late");
  assert_int_equal(shimkit_client_call_send(c, &late.base), -1); /* after close_send */
  int rc;
  char *v = recv_value(c, &rc);
  assert_int_equal(rc, 1);
  assert_string_equal(v, "a,b,c");
  free(v);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_OK);
}

static void test_client_streaming_finish_closes(void **state) {
  /* finish() without close_send or recv: the half-close and the reply are taken care of. */
  struct fixture *f = *state;
  shimkit_client_call *c = shimkit_client_call_start(f->ch, m_client, NULL);
  Google__Protobuf__StringValue req = sv("only");
  assert_int_equal(shimkit_client_call_send(c, &req.base), 0);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_OK);
}

static void test_bidi_streaming(void **state) {
  struct fixture *f = *state;
  shimkit_metadata *init = shimkit_metadata_new();
  shimkit_call_options opts = {.initial_out = init};
  shimkit_client_call *c = shimkit_client_call_start(f->ch, m_bidi, &opts);
  assert_non_null(c);
  for (int i = 0; i < 3; i++) {
    char msg[16];
    snprintf(msg, sizeof msg, "m%d", i);
    Google__Protobuf__StringValue req = sv(msg);
    assert_int_equal(shimkit_client_call_send(c, &req.base), 0);
    int rc;
    char *v = recv_value(c, &rc);
    assert_int_equal(rc, 1);
    char want[32];
    snprintf(want, sizeof want, "echo:m%d", i);
    assert_string_equal(v, want);
    free(v);
  }
  assert_int_equal(shimkit_client_call_close_send(c), 0);
  int rc;
  assert_null(recv_value(c, &rc));
  assert_int_equal(rc, 0);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_OK);
  shimkit_metadata_free(init);
}

/* Polls until the next message or the end, sleeping between polls (at most about 10 s). */
static int poll_value(shimkit_client_call *c, char **value) {
  *value = NULL;
  for (int i = 0; i < 2000; i++) {
    ProtobufCMessage *m = NULL;
    int rc = shimkit_client_call_recv_poll(c, &m);
    if (rc != SHIMKIT_RECV_PENDING) {
      if (rc == 1) {
        *value = strdup(((Google__Protobuf__StringValue *)m)->value);
        protobuf_c_message_free_unpacked(m, NULL);
      }
      return rc;
    }
    assert_null(m);
    sleep_ms(5);
  }
  return SHIMKIT_RECV_PENDING;
}

static void test_recv_poll(void **state) {
  /* recv_poll never waits: nothing sent, nothing to read; then the echo, then the end. */
  struct fixture *f = *state;
  shimkit_call_options opts = {0};
  shimkit_client_call *c = shimkit_client_call_start(f->ch, m_bidi, &opts);
  assert_non_null(c);
  ProtobufCMessage *m = NULL;
  assert_int_equal(shimkit_client_call_recv_poll(c, &m), SHIMKIT_RECV_PENDING);
  assert_int_equal(shimkit_client_call_recv_poll(c, &m), SHIMKIT_RECV_PENDING); /* the same read, still out */
  Google__Protobuf__StringValue req = sv("p0");
  assert_int_equal(shimkit_client_call_send(c, &req.base), 0);
  char *v = NULL;
  assert_int_equal(poll_value(c, &v), 1);
  assert_string_equal(v, "echo:p0");
  free(v);
  /* A poll's read left in flight is taken over by a blocking recv. */
  assert_int_equal(shimkit_client_call_recv_poll(c, &m), SHIMKIT_RECV_PENDING);
  req = sv("p1");
  assert_int_equal(shimkit_client_call_send(c, &req.base), 0);
  int rc;
  v = recv_value(c, &rc);
  assert_int_equal(rc, 1);
  assert_string_equal(v, "echo:p1");
  free(v);
  assert_int_equal(shimkit_client_call_close_send(c), 0);
  assert_int_equal(poll_value(c, &v), 0);
  assert_null(v);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_OK);
}

static void test_recv_poll_then_finish(void **state) {
  /* finish with a polled read still in flight: it is taken over, nothing leaks (ASan). */
  struct fixture *f = *state;
  shimkit_call_options opts = {0};
  shimkit_client_call *c = shimkit_client_call_start(f->ch, m_bidi, &opts);
  assert_non_null(c);
  ProtobufCMessage *m = NULL;
  assert_int_equal(shimkit_client_call_recv_poll(c, &m), SHIMKIT_RECV_PENDING);
  Google__Protobuf__StringValue req = sv("left");
  assert_int_equal(shimkit_client_call_send(c, &req.base), 0);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_OK);
}

struct sender_args {
  shimkit_client_call *call;
  int n;
};

static void *sender(void *p) {
  struct sender_args *a = p;
  for (int i = 0; i < a->n; i++) {
    char msg[16];
    snprintf(msg, sizeof msg, "%d", i);
    Google__Protobuf__StringValue req = sv(msg);
    if (shimkit_client_call_send(a->call, &req.base) != 0) {
      break;
    }
  }
  shimkit_client_call_close_send(a->call);
  return NULL;
}

static void test_bidi_send_and_recv_on_two_threads(void **state) {
  struct fixture *f = *state;
  shimkit_client_call *c = shimkit_client_call_start(f->ch, m_bidi, NULL);
  struct sender_args a = {c, 200};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, sender, &a), 0);
  int got = 0;
  int rc;
  char *v;
  while ((v = recv_value(c, &rc)) != NULL) {
    char want[32];
    snprintf(want, sizeof want, "echo:%d", got);
    assert_string_equal(v, want);
    free(v);
    got++;
  }
  assert_int_equal(rc, 0);
  pthread_join(t, NULL);
  assert_int_equal(got, 200);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_OK);
}

static void test_cancel_mid_stream(void **state) {
  struct fixture *f = *state;
  shimkit_status st = {0};
  shimkit_call_options opts = {.status_out = &st};
  shimkit_client_call *c = shimkit_client_call_start(f->ch, m_server, &opts);
  Google__Protobuf__StringValue req = sv("forever");
  assert_int_equal(shimkit_client_call_send(c, &req.base), 0);
  assert_int_equal(shimkit_client_call_close_send(c), 0);
  for (int i = 0; i < 3; i++) {
    int rc;
    free(recv_value(c, &rc));
    assert_int_equal(rc, 1);
  }
  shimkit_client_call_cancel(c);
  /* Receiving after cancel fails (or drains what was already here, then fails). */
  int rc;
  char *v;
  while ((v = recv_value(c, &rc)) != NULL) {
    free(v);
  }
  assert_int_equal(rc, -1);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_CANCELLED);
  assert_int_equal(st.code, SHIMKIT_CANCELLED);
  shimkit_status_clear(&st);
  wait_for_flag(&handler_saw_cancel);
}

static void test_finish_before_stream_end(void **state) {
  /* finish() reads off what is left so the status can arrive. */
  struct fixture *f = *state;
  shimkit_client_call *c = shimkit_client_call_start(f->ch, m_server, NULL);
  Google__Protobuf__StringValue req = sv("50");
  assert_int_equal(shimkit_client_call_send(c, &req.base), 0);
  int rc;
  free(recv_value(c, &rc));
  assert_int_equal(rc, 1);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_OK);
}

static void test_stream_deadline(void **state) {
  struct fixture *f = *state;
  shimkit_call_options opts = {.timeout_ms = 150};
  shimkit_client_call *c = shimkit_client_call_start(f->ch, m_server, &opts);
  Google__Protobuf__StringValue req = sv("forever");
  assert_int_equal(shimkit_client_call_send(c, &req.base), 0);
  int rc;
  char *v;
  while ((v = recv_value(c, &rc)) != NULL) {
    free(v);
  }
  assert_int_equal(rc, -1);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_DEADLINE_EXCEEDED);
}

static void test_stream_error_status(void **state) {
  /* A stream to a method nobody serves ends with the server's status. */
  struct fixture *f = *state;
  shimkit_status st = {0};
  shimkit_call_options opts = {.status_out = &st};
  static const shimkit_method_desc missing_stream = {
      "/shimkit.test.Echo/Nope", "Nope", SHIMKIT_METHOD_BIDI_STREAMING, SV, SV, invoke};
  shimkit_client_call *c = shimkit_client_call_start(f->ch, &missing_stream, &opts);
  int rc;
  assert_null(recv_value(c, &rc));
  assert_true(rc <= 0);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_UNIMPLEMENTED);
  assert_int_equal(st.code, SHIMKIT_UNIMPLEMENTED);
  shimkit_status_clear(&st);
}

/* ---- TLS -------------------------------------------------------------------------- */

static void make_certs(struct fixture *f) {
  char tmpl[] = "/tmp/shimkit-tls-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  snprintf(f->certs, sizeof f->certs, "%s", tmpl);
  /* The script sits next to this file; CMake compiles with absolute paths. */
  char script[1024];
  snprintf(script, sizeof script, "%s", __FILE__);
  char *slash = strrchr(script, '/');
  assert_non_null(slash);
  snprintf(slash + 1, sizeof script - (size_t)(slash + 1 - script), "gen_test_certs.sh");
  char cmd[1400];
  snprintf(cmd, sizeof cmd, "sh '%s' '%s'", script, f->certs);
  assert_int_equal(system(cmd), 0);
}

static void path(char *out, size_t n, const struct fixture *f, const char *file) {
  snprintf(out, n, "%s/%s", f->certs, file);
}

static int setup_tls(void **state, bool mutual) {
  struct fixture *f = calloc(1, sizeof *f);
  make_certs(f);
  char cert[256], key[256], ca[256];
  path(cert, sizeof cert, f, "server.pem");
  path(key, sizeof key, f, "server.key");
  path(ca, sizeof ca, f, "ca.pem");
  shimkit_tls_options tls = {.cert_file = cert, .key_file = key};
  if (mutual) {
    tls.client_ca_file = ca;
    tls.require_client_cert = true;
  }
  int port = 0;
  f->srv = start_server(&tls, &port);
  snprintf(f->target, sizeof f->target, "127.0.0.1:%d", port);
  *state = f;
  return 0;
}

static int setup_tls_server(void **state) {
  return setup_tls(state, false);
}

static int setup_mtls_server(void **state) {
  return setup_tls(state, true);
}

static void test_tls(void **state) {
  struct fixture *f = *state;
  char ca[256], other[256];
  path(ca, sizeof ca, f, "ca.pem");
  path(other, sizeof other, f, "other-ca.pem");
  shimkit_channel_tls tls = {.ca_file = ca, .server_name = "localhost"};
  f->ch = shimkit_channel_new(f->target, &tls, 0);
  assert_non_null(f->ch);
  shimkit_call_options opts = {.timeout_ms = 10000};
  char *out;
  assert_int_equal(call_unary(f->ch, "echo:secure", &out, &opts), SHIMKIT_OK);
  assert_string_equal(out, "secure");
  free(out);

  /* A plaintext client cannot talk to a TLS port. */
  shimkit_channel *plain = shimkit_channel_new(f->target, NULL, 0);
  assert_int_equal(call_unary(plain, "echo:x", &out, &opts), SHIMKIT_UNAVAILABLE);
  shimkit_channel_free(plain);

  /* A client that trusts another CA refuses the server. */
  shimkit_channel_tls wrong = {.ca_file = other, .server_name = "localhost"};
  shimkit_channel *untrusting = shimkit_channel_new(f->target, &wrong, 0);
  assert_non_null(untrusting);
  assert_int_equal(call_unary(untrusting, "echo:x", &out, &opts), SHIMKIT_UNAVAILABLE);
  shimkit_channel_free(untrusting);

  /* The name checked must be in the certificate. */
  shimkit_channel_tls badname = {.ca_file = ca, .server_name = "not-the-server.example"};
  shimkit_channel *misnamed = shimkit_channel_new(f->target, &badname, 0);
  assert_int_equal(call_unary(misnamed, "echo:x", &out, &opts), SHIMKIT_UNAVAILABLE);
  shimkit_channel_free(misnamed);
}

static void test_mutual_tls(void **state) {
  struct fixture *f = *state;
  char ca[256], cert[256], key[256];
  path(ca, sizeof ca, f, "ca.pem");
  path(cert, sizeof cert, f, "client.pem");
  path(key, sizeof key, f, "client.key");
  shimkit_call_options opts = {.timeout_ms = 10000};
  char *out;

  /* Without a client certificate the server refuses the handshake. */
  shimkit_channel_tls anon = {.ca_file = ca, .server_name = "localhost"};
  shimkit_channel *no_cert = shimkit_channel_new(f->target, &anon, 0);
  assert_int_equal(call_unary(no_cert, "echo:x", &out, &opts), SHIMKIT_UNAVAILABLE);
  shimkit_channel_free(no_cert);

  shimkit_channel_tls tls = {.ca_file = ca, .cert_file = cert, .key_file = key, .server_name = "localhost"};
  f->ch = shimkit_channel_new(f->target, &tls, 0);
  assert_non_null(f->ch);
  assert_int_equal(call_unary(f->ch, "echo:mutual", &out, &opts), SHIMKIT_OK);
  assert_string_equal(out, "mutual");
  free(out);
}

static void test_channel_bad_tls_settings(void **state) {
  (void)state;
  shimkit_channel_tls no_ca = {0};
  assert_null(shimkit_channel_new("127.0.0.1:1", &no_ca, 0));
  shimkit_channel_tls missing = {.ca_file = "/nonexistent/ca.pem"};
  assert_null(shimkit_channel_new("127.0.0.1:1", &missing, 0));
  shimkit_channel_tls half = {.ca_file = "/etc/hostname", .cert_file = "/etc/hostname"};
  assert_null(shimkit_channel_new("127.0.0.1:1", &half, 0));
  shimkit_channel_tls empty = {.ca_file = "/dev/null"};
  assert_null(shimkit_channel_new("127.0.0.1:1", &empty, 0));
  assert_null(shimkit_channel_new(NULL, NULL, 0));
  assert_null(shimkit_channel_new("127.0.0.1:1", NULL, -1));
  shimkit_channel_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_unary_ok, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_recv_poll, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_recv_poll_then_finish, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_unary_metadata_both_ways, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_unary_error_with_details, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_unary_deadline_exceeded, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_unary_bad_response_is_internal, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_unary_unknown_method, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_unary_bad_arguments, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_unary_max_receive, setup_plain, teardown),
      cmocka_unit_test(test_unreachable_server),
      cmocka_unit_test_setup_teardown(test_unary_many_threads_one_channel, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_responses_into_an_arena, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_server_streaming, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_client_streaming, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_client_streaming_finish_closes, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_bidi_streaming, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_bidi_send_and_recv_on_two_threads, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_mid_stream, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_finish_before_stream_end, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_stream_deadline, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_stream_error_status, setup_plain, teardown),
      cmocka_unit_test_setup_teardown(test_tls, setup_tls_server, teardown),
      cmocka_unit_test_setup_teardown(test_mutual_tls, setup_mtls_server, teardown),
      cmocka_unit_test(test_channel_bad_tls_settings),
  };
  shimkit_log_set_level(SHIMKIT_LOG_OFF);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
