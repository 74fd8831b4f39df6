/*
 * test_router_swrr.c - the router's choice between the sets of a service
 * (smooth weighted round robin, runtime/router/swrr.c) and its retry rule
 * (runtime/router/retry_rule.c): exact pick sequences, proportions, sets
 * left out for having no healthy replica, and gRPC core's status messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "retry_rule.h"
#include "swrr.h"

static void picks(const uint32_t *w, const bool *ok, int n, int count, int *out) {
  int64_t cur[8] = {0};
  for (int i = 0; i < count; i++) {
    out[i] = router_swrr_pick(cur, w, ok, n);
  }
}

static void test_classic_sequence(void **state) {
  (void)state;
  const uint32_t w[] = {5, 1, 1};
  const bool ok[] = {true, true, true};
  int got[7];
  picks(w, ok, 3, 7, got);
  const int want[] = {0, 0, 1, 0, 2, 0, 0}; /* a a b a c a a */
  assert_memory_equal(got, want, sizeof want);
}

static void test_100_0_and_0_100(void **state) {
  (void)state;
  const bool ok[] = {true, true};
  int got[20];
  const uint32_t w1[] = {100, 0};
  picks(w1, ok, 2, 20, got);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(got[i], 0);
  }
  const uint32_t w2[] = {0, 100};
  picks(w2, ok, 2, 20, got);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(got[i], 1);
  }
}

static void test_50_50_alternates(void **state) {
  (void)state;
  const uint32_t w[] = {50, 50};
  const bool ok[] = {true, true};
  int got[10];
  picks(w, ok, 2, 10, got);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(got[i], i % 2);
  }
}

static void test_proportions(void **state) {
  (void)state;
  const uint32_t w[] = {90, 10, 0, 25};
  const bool ok[] = {true, true, true, true};
  int64_t cur[4] = {0};
  int counts[4] = {0};
  for (int i = 0; i < 1250; i++) {
    counts[router_swrr_pick(cur, w, ok, 4)]++;
  }
  /* Exact after a whole number of rounds (the weights sum to 125). */
  assert_int_equal(counts[0], 900);
  assert_int_equal(counts[1], 100);
  assert_int_equal(counts[2], 0);
  assert_int_equal(counts[3], 250);
}

static void test_not_eligible_left_out(void **state) {
  (void)state;
  const uint32_t w[] = {50, 50};
  bool ok[] = {false, true};
  int got[6];
  picks(w, ok, 2, 6, got);
  for (int i = 0; i < 6; i++) {
    assert_int_equal(got[i], 1);
  }
  ok[1] = false;
  int64_t cur[2] = {0};
  assert_int_equal(router_swrr_pick(cur, w, ok, 2), -1);
  const uint32_t zero[] = {0, 0};
  const bool all[] = {true, true};
  assert_int_equal(router_swrr_pick(cur, zero, all, 2), -1);
  assert_int_equal(router_swrr_pick(cur, zero, all, 0), -1);
}

static void test_retry_rule(void **state) {
  (void)state;
  /* What gRPC core 1.51 says, seen on this machine. */
  assert_true(router_connect_failure("failed to connect to all addresses; last error: UNKNOWN: "
                                     "ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused"));
  assert_true(router_connect_failure("Failed to connect to remote host: Connection refused"));
  /* A connection that broke under a started call: never replayed. */
  assert_false(router_connect_failure("Socket closed"));
  assert_false(router_connect_failure("Broken pipe"));
  assert_false(router_connect_failure("Connection reset by peer"));
  assert_false(router_connect_failure("Endpoint read failed"));
  assert_false(router_connect_failure(""));
  assert_false(router_connect_failure(NULL));
  /* A handler that fails UNAVAILABLE itself. */
  assert_false(router_connect_failure("backend overloaded"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classic_sequence),      cmocka_unit_test(test_100_0_and_0_100),
      cmocka_unit_test(test_50_50_alternates),      cmocka_unit_test(test_proportions),
      cmocka_unit_test(test_not_eligible_left_out), cmocka_unit_test(test_retry_rule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
