/*
 * test_wire_check.c - the guard run before protobuf-c decodes a request:
 * deep input refused, shallow input passed, field numbers outside
 * 1..2^29-1 refused in any message, and no input (random bytes, every
 * truncation) read out of bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
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
  assert_true(shimkit__wire_check(d, p, len, 100) == SHIMKIT__WIRE_OK);
  p = nest(buf, 1 << 16, 60, &len); /* 120 nested messages */
  assert_true(shimkit__wire_check(d, p, len, 100) == SHIMKIT__WIRE_TOO_DEEP);
  assert_true(shimkit__wire_check(d, p, len, 200) == SHIMKIT__WIRE_OK);
  /* Every truncation: never reads past the end (ASAN watches), never crashes. */
  for (size_t cut = 0; cut <= len; cut++) {
    uint8_t *copy = malloc(cut + 1);
    memcpy(copy, p, cut);
    (void)shimkit__wire_check(d, copy, cut, 100);
    free(copy);
  }
  /* A type without message fields nests nothing: no depth of its own. */
  assert_true(shimkit__wire_check(&google__protobuf__string_value__descriptor, p, len, 0) == SHIMKIT__WIRE_OK);
  assert_true(shimkit__wire_check(d, NULL, 0, 100) == SHIMKIT__WIRE_OK);
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
    (void)shimkit__wire_check(d, b, len, 100);
    free(b);
  }
}

/*
 * Regression (fuzz/corpus/reflection_request): protobuf-c 1.4 keeps a tag of
 * field number 0 written in two bytes as an unknown field, packs it in one
 * byte, and refuses that. A v1alpha reflection request re-read as v1 then
 * failed with INTERNAL, and a tensor spec stored by the model repository
 * could not be read back. Refused here, at any depth, as are field numbers
 * past 2^29-1.
 */
static void test_bad_field_numbers(void **state) {
  (void)state;
  const ProtobufCMessageDescriptor *ts = &google__protobuf__timestamp__descriptor;
  const ProtobufCMessageDescriptor *dp = &google__protobuf__descriptor_proto__descriptor;
  static const uint8_t zero_long[] = {0x80, 0x00, 0x00};
  static const uint8_t zero_short[] = {0x00, 0x00};
  static const uint8_t past_max[] = {0x80, 0x80, 0x80, 0x80, 0x10, 0x00}; /* field 2^29 */
  static const uint8_t at_max[] = {0xF8, 0xFF, 0xFF, 0xFF, 0x0F, 0x00};   /* field 2^29-1 */
  /* DescriptorProto.reserved_range (9) holding a ReservedRange, a type with no message fields. */
  static const uint8_t nested[] = {0x4a, 0x03, 0x80, 0x00, 0x00};
  static const uint8_t nested_ok[] = {0x4a, 0x02, 0x08, 0x05};
  assert_true(shimkit__wire_check(ts, zero_long, sizeof zero_long, 100) == SHIMKIT__WIRE_BAD_TAG);
  assert_true(shimkit__wire_check(ts, zero_short, sizeof zero_short, 100) == SHIMKIT__WIRE_BAD_TAG);
  assert_true(shimkit__wire_check(ts, past_max, sizeof past_max, 100) == SHIMKIT__WIRE_BAD_TAG);
  assert_true(shimkit__wire_check(ts, at_max, sizeof at_max, 100) == SHIMKIT__WIRE_OK);
  assert_true(shimkit__wire_check(dp, nested, sizeof nested, 100) == SHIMKIT__WIRE_BAD_TAG);
  assert_true(shimkit__wire_check(dp, nested_ok, sizeof nested_ok, 100) == SHIMKIT__WIRE_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_depth),
      cmocka_unit_test(test_random),
      cmocka_unit_test(test_bad_field_numbers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
