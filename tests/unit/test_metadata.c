/*
 * test_metadata.c - the shimkit_metadata list and the header rules behind it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "metadata_internal.h"
#include "shimkit/metadata.h"

static void test_add_get(void **state) {
  (void)state;
  shimkit_metadata *md = shimkit_metadata_new();
  assert_non_null(md);
  assert_int_equal(shimkit_metadata_count(md), 0);
  assert_int_equal(shimkit_metadata_add_string(md, "x-a", "one"), SHIMKIT_OK);
  assert_int_equal(shimkit_metadata_add_string(md, "x-a", "two"), SHIMKIT_OK);
  const unsigned char bin[] = {0, 1, 2, 0xff};
  assert_int_equal(shimkit_metadata_add(md, "x-b-bin", bin, sizeof bin), SHIMKIT_OK);
  assert_int_equal(shimkit_metadata_count(md), 3);

  size_t len = 0;
  assert_string_equal(shimkit_metadata_get(md, "x-a", &len), "one");
  assert_int_equal(len, 3);
  const char *v = shimkit_metadata_get(md, "x-b-bin", &len);
  assert_int_equal(len, 4);
  assert_memory_equal(v, bin, 4);
  assert_int_equal(v[4], '\0');
  assert_null(shimkit_metadata_get(md, "x-c", NULL));

  const char *k;
  assert_int_equal(shimkit_metadata_at(md, 1, &k, &v, &len), 0);
  assert_string_equal(k, "x-a");
  assert_string_equal(v, "two");
  assert_int_equal(shimkit_metadata_at(md, 3, &k, &v, &len), -1);

  shimkit_metadata_clear(md);
  assert_int_equal(shimkit_metadata_count(md), 0);
  assert_int_equal(shimkit_metadata_add_string(md, "x-a", "again"), SHIMKIT_OK);
  assert_int_equal(shimkit_metadata_count(md), 1);
  shimkit_metadata_free(md);
  shimkit_metadata_free(NULL);
  shimkit_metadata_clear(NULL);
  assert_int_equal(shimkit_metadata_count(NULL), 0);
}

static void test_invalid(void **state) {
  (void)state;
  shimkit_metadata *md = shimkit_metadata_new();
  assert_int_equal(shimkit_metadata_add_string(md, "X-Upper", "v"), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metadata_add_string(md, "", "v"), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metadata_add_string(md, ":path", "v"), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metadata_add_string(md, "a b", "v"), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metadata_add_string(md, NULL, "v"), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metadata_add_string(md, "x-a", NULL), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metadata_add_string(md, "x-a", "line\nbreak"), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metadata_add(md, "x-a", "\x01", 1), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metadata_add(md, "x-a-bin", "\x01", 1), SHIMKIT_OK);
  char long_key[SHIMKIT__METADATA_KEY_MAX + 2];
  memset(long_key, 'k', sizeof long_key - 1);
  long_key[sizeof long_key - 1] = '\0';
  assert_int_equal(shimkit_metadata_add_string(md, long_key, "v"), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metadata_count(md), 1);
  shimkit_metadata_free(md);
  assert_int_equal(shimkit_metadata_add_string(NULL, "x", "v"), SHIMKIT_INVALID_ARGUMENT);
}

static void test_limit(void **state) {
  (void)state;
  shimkit_metadata *md = shimkit_metadata_new();
  for (int i = 0; i < SHIMKIT__METADATA_MAX_ENTRIES; i++) {
    assert_int_equal(shimkit_metadata_add_string(md, "x-n", "v"), SHIMKIT_OK);
  }
  assert_int_equal(shimkit_metadata_add_string(md, "x-n", "v"), SHIMKIT_RESOURCE_EXHAUSTED);
  shimkit_metadata_free(md);
}

static void test_rules(void **state) {
  (void)state;
  assert_true(shimkit__metadata_key_valid("x-trace_id.v1"));
  assert_false(shimkit__metadata_key_valid("x/y"));
  assert_true(shimkit__metadata_key_reserved("grpc-status"));
  assert_true(shimkit__metadata_key_reserved("content-type"));
  assert_false(shimkit__metadata_key_reserved("x-grpc-thing"));
  assert_true(shimkit__metadata_value_valid("k", "printable ~", 11));
  assert_false(shimkit__metadata_value_valid("k", "\x7f", 1));
  assert_true(shimkit__metadata_value_valid("k-bin", "\x7f\x00", 2));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_get),
      cmocka_unit_test(test_invalid),
      cmocka_unit_test(test_limit),
      cmocka_unit_test(test_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
