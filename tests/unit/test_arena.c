/*
 * test_arena.c - the per-call arena: alignment, zeroing, big blocks, the
 * hard limit, reset, and protobuf-c decoding through its allocator.
 */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "google/protobuf/wrappers.pb-c.h"

static void test_alloc(void **state) {
  (void)state;
  shimkit__arena a;
  shimkit__arena_init(&a, 1 << 20);
  for (size_t size = 0; size < 3000; size += 7) {
    unsigned char *p = shimkit__arena_alloc(&a, size);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
    for (size_t i = 0; i < size; i++) {
      assert_int_equal(p[i], 0);
    }
    memset(p, 0xab, size);
  }
  char *s = shimkit__arena_strndup(&a, "hello world", 5);
  assert_string_equal(s, "hello");
  shimkit__arena_reset(&a);
  unsigned char *p = shimkit__arena_alloc(&a, 100);
  assert_non_null(p);
  assert_int_equal(p[0], 0); /* reused memory is zeroed again */
  shimkit__arena_destroy(&a);
  shimkit__arena_destroy(NULL);
}

static void test_limit(void **state) {
  (void)state;
  shimkit__arena a;
  shimkit__arena_init(&a, 64 * 1024);
  assert_null(shimkit__arena_alloc(&a, 65 * 1024));
  assert_null(shimkit__arena_alloc(&a, SIZE_MAX));
  assert_null(shimkit__arena_alloc(&a, SIZE_MAX - 8));
  size_t total = 0;
  while (shimkit__arena_alloc(&a, 1000) != NULL) {
    total += 1000;
    assert_true(total <= 64 * 1024);
  }
  assert_true(total > 32 * 1024);
  shimkit__arena_reset(&a);
  assert_non_null(shimkit__arena_alloc(&a, 1000)); /* usable again after reset */
  shimkit__arena_destroy(&a);
}

static void test_protobuf_allocator(void **state) {
  (void)state;
  Google__Protobuf__StringValue in = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
  in.value = "decoded through the arena";
  uint8_t buf[64];
  size_t len = google__protobuf__string_value__pack(&in, buf);

  shimkit__arena a;
  shimkit__arena_init(&a, 1 << 20);
  Google__Protobuf__StringValue *out =
      google__protobuf__string_value__unpack(shimkit__arena_allocator(&a), len, buf);
  assert_non_null(out);
  assert_string_equal(out->value, in.value);
  /* Freeing through the arena allocator is a no-op; reset releases it. */
  google__protobuf__string_value__free_unpacked(out, shimkit__arena_allocator(&a));
  shimkit__arena_reset(&a);
  shimkit__arena_destroy(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alloc),
      cmocka_unit_test(test_limit),
      cmocka_unit_test(test_protobuf_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
