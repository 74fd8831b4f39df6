/*
 * test_health.c - the health table (health.c) on its own, then
 * grpc.health.v1.Health over the wire against a real in-process server:
 * Check, Watch (changes, unknown services, cancel) and the drain, which must
 * end Watch streams so they do not hold a graceful shutdown open.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc/health/v1/health.shimkit.h"
#include "health.h"
#include "shimkit/shimkit.h"

typedef Grpc__Health__V1__HealthCheckRequest hc_request;
typedef Grpc__Health__V1__HealthCheckResponse hc_response;

/* ---- the table ------------------------------------------------------------------ */

static void test_table_set_and_get(void **state) {
  (void)state;
  struct shimkit_health *h = shimkit__health_new();
  assert_non_null(h);
  shimkit_health_status st;
  assert_int_equal(shimkit__health_get(h, "", &st), -1); /* nothing known yet */
  assert_int_equal(shimkit__health_get(h, "a.B", &st), -1);

  shimkit__health_set(h, "", SHIMKIT_HEALTH_SERVING);
  shimkit__health_set(h, "a.B", SHIMKIT_HEALTH_NOT_SERVING);
  assert_int_equal(shimkit__health_get(h, "", &st), 0);
  assert_int_equal(st, SHIMKIT_HEALTH_SERVING);
  assert_int_equal(shimkit__health_get(h, NULL, &st), 0); /* NULL = "" */
  assert_int_equal(st, SHIMKIT_HEALTH_SERVING);
  assert_int_equal(shimkit__health_get(h, "a.B", &st), 0);
  assert_int_equal(st, SHIMKIT_HEALTH_NOT_SERVING);

  shimkit__health_set(h, "a.B", SHIMKIT_HEALTH_SERVING);
  assert_int_equal(shimkit__health_get(h, "a.B", &st), 0);
  assert_int_equal(st, SHIMKIT_HEALTH_SERVING);
  shimkit__health_set(h, "a.B", SHIMKIT_HEALTH_UNKNOWN);
  assert_int_equal(shimkit__health_get(h, "a.B", &st), 0);
  assert_int_equal(st, SHIMKIT_HEALTH_UNKNOWN);
  assert_int_equal(shimkit__health_get(h, "a.b", &st), -1); /* names are exact */
  assert_int_equal(shimkit__health_get(NULL, "", &st), -1);
  assert_int_equal(shimkit__health_get(h, "", NULL), -1);
  shimkit__health_free(h);
  shimkit__health_free(NULL);
  shimkit__health_set(NULL, "", SHIMKIT_HEALTH_SERVING);
  shimkit__health_drain(NULL);
}

static void test_table_drain(void **state) {
  (void)state;
  struct shimkit_health *h = shimkit__health_new();
  shimkit__health_set(h, "", SHIMKIT_HEALTH_SERVING);
  shimkit__health_set(h, "x.Y", SHIMKIT_HEALTH_SERVING);
  shimkit__health_drain(h);
  shimkit_health_status st;
  assert_int_equal(shimkit__health_get(h, "", &st), 0);
  assert_int_equal(st, SHIMKIT_HEALTH_NOT_SERVING);
  assert_int_equal(shimkit__health_get(h, "x.Y", &st), 0);
  assert_int_equal(st, SHIMKIT_HEALTH_NOT_SERVING);
  /* Unknown stays unknown; setting SERVING during the drain does not bring it back. */
  assert_int_equal(shimkit__health_get(h, "nope", &st), -1);
  shimkit__health_set(h, "x.Y", SHIMKIT_HEALTH_SERVING);
  shimkit__health_set(h, "late", SHIMKIT_HEALTH_SERVING);
  assert_int_equal(shimkit__health_get(h, "x.Y", &st), 0);
  assert_int_equal(st, SHIMKIT_HEALTH_NOT_SERVING);
  assert_int_equal(shimkit__health_get(h, "late", &st), 0);
  assert_int_equal(st, SHIMKIT_HEALTH_NOT_SERVING);
  shimkit__health_drain(h); /* idempotent */
  shimkit__health_free(h);
}

static void test_table_limits(void **state) {
  (void)state;
  struct shimkit_health *h = shimkit__health_new();
  char name[SHIMKIT__HEALTH_NAME_MAX + 2];
  memset(name, 'n', sizeof name - 1);
  name[sizeof name - 1] = '\0'; /* one byte too long */
  shimkit__health_set(h, name, SHIMKIT_HEALTH_SERVING);
  shimkit_health_status st;
  assert_int_equal(shimkit__health_get(h, name, &st), -1);
  name[SHIMKIT__HEALTH_NAME_MAX] = '\0'; /* exactly the limit */
  shimkit__health_set(h, name, SHIMKIT_HEALTH_SERVING);
  assert_int_equal(shimkit__health_get(h, name, &st), 0);

  char key[32];
  for (int i = 1; i < SHIMKIT__HEALTH_MAX_ENTRIES; i++) {
    snprintf(key, sizeof key, "svc.%d", i);
    shimkit__health_set(h, key, SHIMKIT_HEALTH_SERVING);
  }
  assert_int_equal(shimkit__health_get(h, "svc.4095", &st), 0);
  shimkit__health_set(h, "one.too.many", SHIMKIT_HEALTH_SERVING);
  assert_int_equal(shimkit__health_get(h, "one.too.many", &st), -1);
  /* Known names can still change when the table is full. */
  shimkit__health_set(h, "svc.7", SHIMKIT_HEALTH_NOT_SERVING);
  assert_int_equal(shimkit__health_get(h, "svc.7", &st), 0);
  assert_int_equal(st, SHIMKIT_HEALTH_NOT_SERVING);
  shimkit__health_free(h);
}

/* ---- over the wire ------------------------------------------------------------------- */

struct fixture {
  shimkit_server *srv;
  shimkit_channel *ch;
  pthread_t waiter; /* runs shimkit_server_wait() */
  bool waiting;     /* waiter running, to join */
};

static void *wait_main(void *p) {
  shimkit_server_wait(p);
  return NULL;
}

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  shimkit_server_options o;
  shimkit_server_options_init(&o);
  o.worker_threads = 4;
  o.handle_signals = false;
  o.access_log = false;
  o.drain_grace_ms = 20000; /* long: the drain test shows Watch does not use it up */
  f->srv = shimkit_server_new(&o);
  assert_non_null(f->srv);
  int port = 0;
  assert_int_equal(shimkit_server_add_listener(f->srv, "127.0.0.1:0", NULL, &port), SHIMKIT_OK);
  assert_int_equal(shimkit_server_start(f->srv), SHIMKIT_OK);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  f->ch = shimkit_channel_new(target, NULL, 0);
  assert_int_equal(pthread_create(&f->waiter, NULL, wait_main, f->srv), 0);
  f->waiting = true;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  shimkit_channel_free(f->ch);
  shimkit_server_shutdown(f->srv);
  if (f->waiting) {
    pthread_join(f->waiter, NULL);
  }
  shimkit_server_free(f->srv);
  free(f);
  return 0;
}

static shimkit_code check(shimkit_channel *ch, const char *service, int *status) {
  hc_request req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  req.service = (char *)service;
  hc_response *resp = NULL;
  shimkit_call_options opts = {.timeout_ms = 5000};
  shimkit_code code = grpc__health__v1__health__shimkit_check(ch, &req, &resp, &opts);
  *status = resp != NULL ? (int)resp->status : -1;
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  return code;
}

/* Next Watch status, or -1 when the stream ended. */
static int next_status(shimkit_client_call *c) {
  hc_response *resp = NULL;
  int rc = grpc__health__v1__health__shimkit_watch_recv(c, &resp);
  if (rc != 1) {
    return -1;
  }
  int st = (int)resp->status;
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  return st;
}

static shimkit_client_call *watch(shimkit_channel *ch, const char *service,
                                  const shimkit_call_options *opts) {
  hc_request req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  req.service = (char *)service;
  shimkit_client_call *c = grpc__health__v1__health__shimkit_watch_start(ch, &req, opts);
  assert_non_null(c);
  return c;
}

static void test_check(void **state) {
  struct fixture *f = *state;
  int st;
  assert_int_equal(check(f->ch, "", &st), SHIMKIT_OK);
  assert_int_equal(st, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  assert_int_equal(check(f->ch, "grpc.health.v1.Health", &st), SHIMKIT_OK);
  assert_int_equal(st, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  assert_int_equal(check(f->ch, "grpc.reflection.v1.ServerReflection", &st), SHIMKIT_OK);

  shimkit_status status = {0};
  hc_request req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  req.service = (char *)"no.such.Service";
  hc_response *resp = NULL;
  shimkit_call_options opts = {.status_out = &status};
  assert_int_equal(grpc__health__v1__health__shimkit_check(f->ch, &req, &resp, &opts), SHIMKIT_NOT_FOUND);
  assert_null(resp);
  assert_non_null(status.message);
  assert_non_null(strstr(status.message, "no.such.Service"));
  shimkit_status_clear(&status);

  assert_int_equal(shimkit_server_set_health(f->srv, "my.Svc", SHIMKIT_HEALTH_NOT_SERVING), SHIMKIT_OK);
  assert_int_equal(check(f->ch, "my.Svc", &st), SHIMKIT_OK);
  assert_int_equal(st, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
  assert_int_equal(shimkit_server_set_health(f->srv, "", SHIMKIT_HEALTH_NOT_SERVING), SHIMKIT_OK);
  assert_int_equal(check(f->ch, "", &st), SHIMKIT_OK);
  assert_int_equal(st, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
}

static void test_watch_changes(void **state) {
  struct fixture *f = *state;
  shimkit_client_call *c = watch(f->ch, "", NULL);
  assert_int_equal(next_status(c), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  shimkit_server_set_health(f->srv, "", SHIMKIT_HEALTH_NOT_SERVING);
  assert_int_equal(next_status(c), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
  shimkit_server_set_health(f->srv, "", SHIMKIT_HEALTH_NOT_SERVING);      /* no change: no message */
  shimkit_server_set_health(f->srv, "other", SHIMKIT_HEALTH_NOT_SERVING); /* not ours */
  shimkit_server_set_health(f->srv, "", SHIMKIT_HEALTH_SERVING);
  assert_int_equal(next_status(c), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  shimkit_client_call_cancel(c);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_CANCELLED);
}

static void test_watch_unknown_service(void **state) {
  struct fixture *f = *state;
  shimkit_client_call *c = watch(f->ch, "later.Svc", NULL);
  assert_int_equal(next_status(c), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN);
  /* The stream stays open: when the service appears, the watcher hears of it. */
  shimkit_server_set_health(f->srv, "later.Svc", SHIMKIT_HEALTH_SERVING);
  assert_int_equal(next_status(c), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  shimkit_client_call_cancel(c);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_CANCELLED);
}

static void test_watch_deadline(void **state) {
  struct fixture *f = *state;
  /* Long enough for the first answer to arrive before the deadline on a busy
   * machine (300 ms could pass before it did: next_status gave -1 first). */
  shimkit_call_options opts = {.timeout_ms = 2000};
  shimkit_client_call *c = watch(f->ch, "", &opts);
  assert_int_equal(next_status(c), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  assert_int_equal(next_status(c), -1);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_DEADLINE_EXCEEDED);
}

/*
 * The drain ends Watch streams itself: each gets NOT_SERVING, then the
 * handler's own UNAVAILABLE "server is shutting down". Streams that held the
 * drain would instead be cut off when the 20 s grace ran out (UNAVAILABLE
 * with the core's message), so the message tells the two apart, not a clock.
 */
static void test_drain_ends_watch(void **state) {
  struct fixture *f = *state;
  shimkit_status sa = {0}, sb = {0};
  shimkit_call_options oa = {.status_out = &sa}, ob = {.status_out = &sb};
  shimkit_client_call *a = watch(f->ch, "", &oa);
  shimkit_client_call *b = watch(f->ch, "unknown.Svc", &ob);
  assert_int_equal(next_status(a), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  assert_int_equal(next_status(b), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN);

  shimkit_server_shutdown(f->srv); /* the waiter thread drains */
  assert_int_equal(next_status(a), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
  assert_int_equal(next_status(a), -1);
  assert_int_equal(shimkit_client_call_finish(a), SHIMKIT_UNAVAILABLE);
  assert_int_equal(sa.code, SHIMKIT_UNAVAILABLE);
  assert_non_null(sa.message);
  assert_string_equal(sa.message, "server is shutting down");
  shimkit_status_clear(&sa);
  assert_int_equal(next_status(b), GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
  assert_int_equal(next_status(b), -1);
  assert_int_equal(shimkit_client_call_finish(b), SHIMKIT_UNAVAILABLE);
  assert_non_null(sb.message);
  assert_string_equal(sb.message, "server is shutting down");
  shimkit_status_clear(&sb);
  pthread_join(f->waiter, NULL);
  f->waiting = false;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table_set_and_get),
      cmocka_unit_test(test_table_drain),
      cmocka_unit_test(test_table_limits),
      cmocka_unit_test_setup_teardown(test_check, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_changes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_unknown_service, setup, teardown),
      cmocka_unit_test_setup_teardown(test_watch_deadline, setup, teardown),
      cmocka_unit_test_setup_teardown(test_drain_ends_watch, setup, teardown),
  };
  shimkit_log_set_level(SHIMKIT_LOG_OFF);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
