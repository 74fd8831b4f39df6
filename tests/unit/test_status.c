/*
 * test_status.c - status codes: names, descriptions, numbers, clear.
 *
 * The numbers travel on the wire as gRPC status codes, so they are pinned
 * here against grpc/status.h: a renumbering would break every client.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <grpc/status.h>

#include "shimkit/status.h"

static void test_names(void **state) {
  (void)state;
  assert_string_equal(shimkit_code_name(SHIMKIT_OK), "OK");
  assert_string_equal(shimkit_code_name(SHIMKIT_NOT_FOUND), "NOT_FOUND");
  assert_string_equal(shimkit_code_name(SHIMKIT_UNAUTHENTICATED), "UNAUTHENTICATED");
  assert_string_equal(shimkit_code_name((shimkit_code)17), "UNKNOWN_CODE");
  assert_string_equal(shimkit_code_name((shimkit_code)-1), "UNKNOWN_CODE");
}

static void test_strerror(void **state) {
  (void)state;
  assert_string_equal(shimkit_strerror(SHIMKIT_NOT_FOUND), "not found");
  assert_non_null(shimkit_strerror((shimkit_code)99));
  for (int i = 0; i <= 16; i++) {
    assert_non_null(shimkit_strerror((shimkit_code)i));
    assert_string_not_equal(shimkit_code_name((shimkit_code)i), "UNKNOWN_CODE");
  }
}

static void test_numbers_match_grpc(void **state) {
  (void)state;
  assert_int_equal(SHIMKIT_OK, GRPC_STATUS_OK);
  assert_int_equal(SHIMKIT_CANCELLED, GRPC_STATUS_CANCELLED);
  assert_int_equal(SHIMKIT_INVALID_ARGUMENT, GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(SHIMKIT_DEADLINE_EXCEEDED, GRPC_STATUS_DEADLINE_EXCEEDED);
  assert_int_equal(SHIMKIT_RESOURCE_EXHAUSTED, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_int_equal(SHIMKIT_UNIMPLEMENTED, GRPC_STATUS_UNIMPLEMENTED);
  assert_int_equal(SHIMKIT_UNAVAILABLE, GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(SHIMKIT_UNAUTHENTICATED, GRPC_STATUS_UNAUTHENTICATED);
}

static void test_clear(void **state) {
  (void)state;
  shimkit_status st = {SHIMKIT_INTERNAL, strdup("boom"), malloc(3), 3};
  shimkit_status_clear(&st);
  assert_int_equal(st.code, SHIMKIT_OK);
  assert_null(st.message);
  assert_null(st.details);
  assert_int_equal(st.details_len, 0);
  shimkit_status_clear(&st); /* twice is fine */
  shimkit_status_clear(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_strerror),
      cmocka_unit_test(test_numbers_match_grpc),
      cmocka_unit_test(test_clear),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
