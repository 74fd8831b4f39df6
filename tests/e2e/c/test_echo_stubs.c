/*
 * test_echo_stubs.c - end to end through the generated C client stubs against
 * a real echo_shim process: all four RPC kinds, deadline, cancel mid-stream,
 * metadata both ways, error status, unknown method and service, concurrency.
 *
 * Usage: test_echo_stubs PATH/TO/echo_shim
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <shimkit/shimkit.h>

#include "examples/echo.shimkit.h"
#include "shim_process.h"

static const char *shim_path;
static shim_process shim;
static shimkit_channel *channel;

static int setup(void **state) {
  (void)state;
  static const char *const args[] = {"--name", "c-e2e", "--no-access-log", NULL};
  if (shim_process_start(&shim, shim_path, args) != 0) return -1;
  channel = shimkit_channel_new(shim.target, NULL, 0);
  return channel ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  shimkit_channel_free(channel);
  return shim_process_stop(&shim, SIGTERM) == 0 ? 0 : -1;
}

static Shimkit__Examples__V1__EchoRequest request(const char *message) {
  Shimkit__Examples__V1__EchoRequest req = SHIMKIT__EXAMPLES__V1__ECHO_REQUEST__INIT;
  req.message = (char *)message;
  return req;
}

static void test_unary(void **state) {
  (void)state;
  Shimkit__Examples__V1__EchoRequest req = request("hello");
  Shimkit__Examples__V1__EchoReply *reply = NULL;
  shimkit_call_options opts = {.timeout_ms = 5000};
  assert_int_equal(shimkit__examples__v1__echo__shimkit_say(channel, &req, &reply, &opts), SHIMKIT_OK);
  assert_non_null(reply);
  assert_string_equal(reply->message, "hello");
  assert_string_equal(reply->served_by, "c-e2e");
  assert_non_null(reply->handled_at);
  assert_true(reply->handled_at->seconds > 1700000000);
  protobuf_c_message_free_unpacked(&reply->base, NULL);
}

static void test_server_streaming(void **state) {
  (void)state;
  Shimkit__Examples__V1__ExpandRequest req = SHIMKIT__EXAMPLES__V1__EXPAND_REQUEST__INIT;
  req.message = "tick";
  req.count = 5;
  shimkit_status status = {0};
  shimkit_call_options opts = {.timeout_ms = 5000, .status_out = &status};
  shimkit_client_call *call = shimkit__examples__v1__echo__shimkit_expand_start(channel, &req, &opts);
  assert_non_null(call);
  Shimkit__Examples__V1__EchoReply *reply;
  uint32_t n = 0;
  while (shimkit__examples__v1__echo__shimkit_expand_recv(call, &reply) == 1) {
    assert_int_equal(reply->index, n);
    assert_string_equal(reply->message, "tick");
    protobuf_c_message_free_unpacked(&reply->base, NULL);
    n++;
  }
  assert_int_equal(shimkit_client_call_finish(call), SHIMKIT_OK);
  assert_int_equal(n, 5);
  assert_int_equal(status.code, SHIMKIT_OK);
  shimkit_status_clear(&status);
}

static void test_client_streaming(void **state) {
  (void)state;
  shimkit_call_options opts = {.timeout_ms = 5000};
  shimkit_client_call *call = shimkit__examples__v1__echo__shimkit_collect_start(channel, &opts);
  assert_non_null(call);
  const char *words[] = {"one", "two", "three"};
  for (int i = 0; i < 3; i++) {
    Shimkit__Examples__V1__EchoRequest req = request(words[i]);
    assert_int_equal(shimkit__examples__v1__echo__shimkit_collect_send(call, &req), 0);
  }
  assert_int_equal(shimkit_client_call_close_send(call), 0);
  Shimkit__Examples__V1__CollectReply *reply = NULL;
  assert_int_equal(shimkit__examples__v1__echo__shimkit_collect_recv(call, &reply), 1);
  assert_string_equal(reply->joined, "one two three");
  assert_int_equal(reply->count, 3);
  protobuf_c_message_free_unpacked(&reply->base, NULL);
  assert_int_equal(shimkit_client_call_finish(call), SHIMKIT_OK);
}

static void test_bidi_streaming(void **state) {
  (void)state;
  shimkit_call_options opts = {.timeout_ms = 5000};
  shimkit_client_call *call = shimkit__examples__v1__echo__shimkit_chat_start(channel, &opts);
  assert_non_null(call);
  const char *words[] = {"ping", "pong", "done"};
  for (uint32_t i = 0; i < 3; i++) {
    Shimkit__Examples__V1__EchoRequest req = request(words[i]);
    assert_int_equal(shimkit__examples__v1__echo__shimkit_chat_send(call, &req), 0);
    Shimkit__Examples__V1__EchoReply *reply = NULL;
    assert_int_equal(shimkit__examples__v1__echo__shimkit_chat_recv(call, &reply), 1);
    assert_string_equal(reply->message, words[i]);
    assert_int_equal(reply->index, i);
    protobuf_c_message_free_unpacked(&reply->base, NULL);
  }
  assert_int_equal(shimkit_client_call_close_send(call), 0);
  Shimkit__Examples__V1__EchoReply *extra = NULL;
  assert_int_equal(shimkit__examples__v1__echo__shimkit_chat_recv(call, &extra), 0);
  assert_int_equal(shimkit_client_call_finish(call), SHIMKIT_OK);
}

static void test_deadline_exceeded(void **state) {
  (void)state;
  Shimkit__Examples__V1__EchoRequest req = request("slow");
  req.delay_ms = 3000;
  Shimkit__Examples__V1__EchoReply *reply = NULL;
  shimkit_call_options opts = {.timeout_ms = 200};
  assert_int_equal(shimkit__examples__v1__echo__shimkit_say(channel, &req, &reply, &opts),
                   SHIMKIT_DEADLINE_EXCEEDED);
  assert_null(reply);
}

static void test_metadata_both_ways(void **state) {
  (void)state;
  shimkit_metadata *out = shimkit_metadata_new(), *initial = shimkit_metadata_new(),
                   *trailing = shimkit_metadata_new();
  assert_int_equal(shimkit_metadata_add_string(out, "x-echo-token", "abc123"), SHIMKIT_OK);
  assert_int_equal(shimkit_metadata_add(out, "x-echo-raw-bin", "\x00\x01\x02", 3), SHIMKIT_OK);
  Shimkit__Examples__V1__EchoRequest req = request("md");
  Shimkit__Examples__V1__EchoReply *reply = NULL;
  shimkit_call_options opts = {
      .timeout_ms = 5000, .metadata = out, .initial_out = initial, .trailing_out = trailing};
  assert_int_equal(shimkit__examples__v1__echo__shimkit_say(channel, &req, &reply, &opts), SHIMKIT_OK);
  protobuf_c_message_free_unpacked(&reply->base, NULL);
  size_t len = 0;
  const char *v = shimkit_metadata_get(initial, "x-echo-token", &len);
  assert_non_null(v);
  assert_string_equal(v, "abc123");
  v = shimkit_metadata_get(initial, "x-echo-raw-bin", &len);
  assert_non_null(v);
  assert_int_equal(len, 3);
  assert_memory_equal(v, "\x00\x01\x02", 3);
  v = shimkit_metadata_get(trailing, "x-echo-token-trailer", NULL);
  assert_non_null(v);
  assert_string_equal(v, "abc123");
  shimkit_metadata_free(out);
  shimkit_metadata_free(initial);
  shimkit_metadata_free(trailing);
}

static void test_error_status_with_message(void **state) {
  (void)state;
  Shimkit__Examples__V1__EchoRequest req = request("x");
  req.fail_code = SHIMKIT_NOT_FOUND;
  req.fail_message = "no model called x";
  Shimkit__Examples__V1__EchoReply *reply = NULL;
  shimkit_status status = {0};
  shimkit_call_options opts = {.timeout_ms = 5000, .status_out = &status};
  assert_int_equal(shimkit__examples__v1__echo__shimkit_say(channel, &req, &reply, &opts), SHIMKIT_NOT_FOUND);
  assert_null(reply);
  assert_int_equal(status.code, SHIMKIT_NOT_FOUND);
  assert_non_null(status.message);
  assert_string_equal(status.message, "no model called x");
  shimkit_status_clear(&status);
}

static shimkit_code call_path(const char *path) {
  shimkit_method_desc fake = {
      .path = path,
      .name = "Nope",
      .kind = SHIMKIT_METHOD_UNARY,
      .request = &shimkit__examples__v1__echo_request__descriptor,
      .response = &shimkit__examples__v1__echo_reply__descriptor,
      .invoke = NULL,
  };
  Shimkit__Examples__V1__EchoRequest req = request("?");
  ProtobufCMessage *reply = NULL;
  shimkit_status status = {0};
  shimkit_call_options opts = {.timeout_ms = 5000, .status_out = &status};
  shimkit_code rc = shimkit_unary_call(channel, &fake, &req.base, &reply, &opts);
  assert_null(reply);
  if (rc == SHIMKIT_UNIMPLEMENTED) {
    assert_non_null(status.message);
    assert_non_null(strstr(status.message, path));
  }
  shimkit_status_clear(&status);
  return rc;
}

static void test_unknown_method_and_service(void **state) {
  (void)state;
  assert_int_equal(call_path("/shimkit.examples.v1.Echo/Nope"), SHIMKIT_UNIMPLEMENTED);
  assert_int_equal(call_path("/no.such.Service/Say"), SHIMKIT_UNIMPLEMENTED);
}

static void test_cancel_mid_stream(void **state) {
  (void)state;
  Shimkit__Examples__V1__ExpandRequest req = SHIMKIT__EXAMPLES__V1__EXPAND_REQUEST__INIT;
  req.message = "long";
  req.count = 10000;
  req.interval_ms = 20;
  shimkit_call_options opts = {.timeout_ms = 20000};
  shimkit_client_call *call = shimkit__examples__v1__echo__shimkit_expand_start(channel, &req, &opts);
  assert_non_null(call);
  Shimkit__Examples__V1__EchoReply *reply = NULL;
  assert_int_equal(shimkit__examples__v1__echo__shimkit_expand_recv(call, &reply), 1);
  protobuf_c_message_free_unpacked(&reply->base, NULL);
  shimkit_client_call_cancel(call);
  assert_int_equal(shimkit_client_call_finish(call), SHIMKIT_CANCELLED);
  /* The server is still fine. */
  test_unary(state);
}

#define THREADS 8
#define CALLS_PER_THREAD 50

static void *hammer(void *arg) {
  (void)arg;
  intptr_t failures = 0;
  for (int i = 0; i < CALLS_PER_THREAD; i++) {
    Shimkit__Examples__V1__EchoRequest req = request("concurrent");
    Shimkit__Examples__V1__EchoReply *reply = NULL;
    shimkit_call_options opts = {.timeout_ms = 10000};
    if (shimkit__examples__v1__echo__shimkit_say(channel, &req, &reply, &opts) != SHIMKIT_OK ||
        strcmp(reply->message, "concurrent") != 0)
      failures++;
    if (reply) protobuf_c_message_free_unpacked(&reply->base, NULL);
  }
  return (void *)failures;
}

static void test_concurrent_calls(void **state) {
  (void)state;
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&threads[i], NULL, hammer, NULL), 0);
  intptr_t failures = 0;
  for (int i = 0; i < THREADS; i++) {
    void *r;
    pthread_join(threads[i], &r);
    failures += (intptr_t)r;
  }
  assert_int_equal(failures, 0);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH/TO/echo_shim\n", argv[0]);
    return 2;
  }
  shim_path = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unary),
      cmocka_unit_test(test_server_streaming),
      cmocka_unit_test(test_client_streaming),
      cmocka_unit_test(test_bidi_streaming),
      cmocka_unit_test(test_deadline_exceeded),
      cmocka_unit_test(test_metadata_both_ways),
      cmocka_unit_test(test_error_status_with_message),
      cmocka_unit_test(test_unknown_method_and_service),
      cmocka_unit_test(test_cancel_mid_stream),
      cmocka_unit_test(test_concurrent_calls),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
