/*
 * test_service.c - method lookup by binary search in a service table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "shimkit/service.h"

static const shimkit_method_desc methods[] = {
    {"/pkg.Svc/A", "A", SHIMKIT_METHOD_UNARY, NULL, NULL, NULL},
    {"/pkg.Svc/B", "B", SHIMKIT_METHOD_SERVER_STREAMING, NULL, NULL, NULL},
    {"/pkg.Svc/Ba", "Ba", SHIMKIT_METHOD_CLIENT_STREAMING, NULL, NULL, NULL},
    {"/pkg.Svc/C", "C", SHIMKIT_METHOD_BIDI_STREAMING, NULL, NULL, NULL},
    {"/pkg.Svc/Z", "Z", SHIMKIT_METHOD_UNARY, NULL, NULL, NULL},
};

static const shimkit_service_desc svc = {
    SHIMKIT_ABI_VERSION, "pkg.Svc", "pkg/svc.proto", 5, methods, 0, NULL};

static void test_find(void **state) {
  (void)state;
  for (size_t i = 0; i < 5; i++) {
    assert_ptr_equal(shimkit_service_find_method(&svc, methods[i].path), &methods[i]);
  }
  assert_null(shimkit_service_find_method(&svc, "/pkg.Svc/"));
  assert_null(shimkit_service_find_method(&svc, "/pkg.Svc/Bb"));
  assert_null(shimkit_service_find_method(&svc, "/pkg.Svc/0"));
  assert_null(shimkit_service_find_method(&svc, "/pkg.Svc/zz"));
  assert_null(shimkit_service_find_method(&svc, ""));
  assert_null(shimkit_service_find_method(&svc, NULL));
  assert_null(shimkit_service_find_method(NULL, "/pkg.Svc/A"));
}

static void test_empty(void **state) {
  (void)state;
  const shimkit_service_desc empty = {SHIMKIT_ABI_VERSION, "pkg.Empty", "x.proto", 0, NULL, 0, NULL};
  assert_null(shimkit_service_find_method(&empty, "/pkg.Empty/A"));
  const shimkit_service_desc one = {SHIMKIT_ABI_VERSION, "pkg.Svc", "x.proto", 1, methods, 0, NULL};
  assert_ptr_equal(shimkit_service_find_method(&one, "/pkg.Svc/A"), &methods[0]);
  assert_null(shimkit_service_find_method(&one, "/pkg.Svc/B"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_find),
      cmocka_unit_test(test_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
