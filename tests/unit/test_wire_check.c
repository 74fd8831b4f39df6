/*
 * test_wire_check.c - the nesting-depth guard run before protobuf-c decodes
 * a request: deep input refused, shallow input passed, and no input (random
 * bytes, every truncation) read out of bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "wire_check.h"

/* Value{list_value{values[...]}} nested `levels` pairs deep, at the end of buf; returns its start. */
static const uint8_t *nest(uint8_t *buf, size_t cap, int levels, size_t *len_out) {
  size_t start = cap, len = 0;
  for (int i = 0; i < 2 * levels; i++) {
    uint8_t hdr[6];
    size_t h = 0;
    hdr[h++] = (i % 2 == 0) ? 0x0a : 0x32;
    size_t v = len;
    do {
      hdr[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
      v >>= 7;
    } while (v != 0);
    start -= h;
    memcpy(buf + start, hdr, h);
    len += h;
  }
  *len_out = len;
  return buf + start;
}

static void test_depth(void **state) {
  (void)state;
  const ProtobufCMessageDescriptor *d = &google__protobuf__value__descriptor;
  uint8_t *buf = malloc(1 << 16);
  size_t len;
  const uint8_t *p = nest(buf, 1 << 16, 10, &len);
  assert_true(shimkit__wire_depth_ok(d, p, len, 100));
  p = nest(buf, 1 << 16, 60, &len); /* 120 nested messages */
  assert_false(shimkit__wire_depth_ok(d, p, len, 100));
  assert_true(shimkit__wire_depth_ok(d, p, len, 200));
  /* Every truncation: never reads past the end (ASAN watches), never crashes. */
  for (size_t cut = 0; cut <= len; cut++) {
    uint8_t *copy = malloc(cut + 1);
    memcpy(copy, p, cut);
    (void)shimkit__wire_depth_ok(d, copy, cut, 100);
    free(copy);
  }
  /* A type without message fields is never walked. */
  assert_true(shimkit__wire_depth_ok(&google__protobuf__string_value__descriptor, p, len, 1));
  assert_true(shimkit__wire_depth_ok(d, NULL, 0, 100));
  free(buf);
}

static void test_random(void **state) {
  (void)state;
  srand(12345);
  const ProtobufCMessageDescriptor *d = &google__protobuf__struct__descriptor;
  for (int i = 0; i < 20000; i++) {
    size_t len = (size_t)(rand() % 64);
    uint8_t *b = malloc(len + 1);
    for (size_t j = 0; j < len; j++) {
      b[j] = (uint8_t)rand();
    }
    (void)shimkit__wire_depth_ok(d, b, len, 100);
    free(b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_depth),
      cmocka_unit_test(test_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
