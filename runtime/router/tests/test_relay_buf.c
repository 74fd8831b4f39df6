/*
 * test_relay_buf.c - the relay's byte buffers and header lists
 * (relay_buf.c): what a call's bytes go through between two nghttp2
 * sessions. A buffer that loses, repeats or reorders a byte corrupts a
 * message silently, and a kept request that cannot be replayed from its
 * start breaks the relay's retries; these are checked here byte for byte.
 * Also the grpc-timeout values the relay reads from a request and writes,
 * with what is left of the deadline, on each attempt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "relay_internal.h"

static void fill(uint8_t *p, size_t n, size_t from) {
  for (size_t i = 0; i < n; i++) {
    p[i] = (uint8_t)((from + i) * 7 + 3);
  }
}

/* Bytes handed over come out in order, whatever the chunk sizes on both sides. */
static void test_take_in_order_without_keep(void **state) {
  (void)state;
  relay_buf b = {0};
  uint8_t in[10000], out[10000];
  fill(in, sizeof in, 0);
  size_t put = 0, got = 0;
  size_t in_steps[] = {1, 4095, 3, 5000, 901};
  size_t out_steps[] = {2, 7000, 1, 999, 10000};
  for (int i = 0; i < 5; i++) {
    assert_int_equal(relay_buf_append(&b, in + put, in_steps[i]), 0);
    put += in_steps[i];
    got += relay_buf_take(&b, out + got, out_steps[i], false);
    assert_int_equal(relay_buf_position(&b), got);
    assert_int_equal(relay_buf_pending(&b), put - got);
  }
  assert_int_equal(got, put);
  assert_memory_equal(out, in, put);
  assert_true(b.len < 4096 || b.off == 0); /* handed-over bytes were dropped */
  relay_buf_free(&b);
}

/* With keep, every byte stays: rewinding the hand-over point replays the whole stream. */
static void test_keep_allows_replay_from_the_start(void **state) {
  (void)state;
  relay_buf b = {0};
  uint8_t in[6000], out[6000];
  fill(in, sizeof in, 11);
  assert_int_equal(relay_buf_append(&b, in, 2500), 0);
  assert_int_equal(relay_buf_take(&b, out, 1000, true), 1000);
  assert_int_equal(relay_buf_append(&b, in + 2500, 3500), 0);
  assert_int_equal(relay_buf_take(&b, out + 1000, 6000, true), 5000);
  assert_int_equal(b.base, 0);
  assert_int_equal(relay_buf_position(&b), 6000);
  b.off = 0; /* what submit() does for a second attempt */
  memset(out, 0, sizeof out);
  assert_int_equal(relay_buf_take(&b, out, 6000, true), 6000);
  assert_memory_equal(out, in, sizeof in);
  relay_buf_free(&b);
}

/* Once keep ends, what was handed over is dropped and the position keeps counting. */
static void test_position_counts_across_drops(void **state) {
  (void)state;
  relay_buf b = {0};
  uint8_t in[300], out[300];
  fill(in, sizeof in, 5);
  assert_int_equal(relay_buf_append(&b, in, 100), 0);
  assert_int_equal(relay_buf_take(&b, out, 60, true), 60);
  assert_int_equal(relay_buf_take(&b, out + 60, 10, false), 10);
  assert_int_equal(relay_buf_position(&b), 70);
  assert_int_equal(relay_buf_append(&b, in + 100, 200), 0);
  assert_int_equal(relay_buf_take(&b, out + 70, 300, false), 230);
  assert_int_equal(relay_buf_position(&b), 300);
  assert_int_equal(relay_buf_pending(&b), 0);
  assert_memory_equal(out, in, sizeof in);
  assert_int_equal(relay_buf_take(&b, out, 10, false), 0);
  relay_buf_free(&b);
}

/* A call that stops keeping (keep_stop in relay_call.c) drops what it handed
 * over; once it had handed over everything, its storage goes too. */
static void test_drop_taken_then_release(void **state) {
  (void)state;
  relay_buf b = {0};
  uint8_t in[9000], out[9000];
  fill(in, sizeof in, 3);
  assert_int_equal(relay_buf_append(&b, in, 9000), 0);
  assert_int_equal(relay_buf_take(&b, out, 2000, true), 2000);
  relay_buf_drop_taken(&b); /* 2000 handed over, 7000 left: the smaller part is not moved yet */
  relay_buf_release_empty(&b);
  assert_non_null(b.data); /* not empty: kept */
  assert_int_equal(relay_buf_take(&b, out + 2000, 7000, true), 7000);
  relay_buf_drop_taken(&b);
  assert_int_equal(b.len, 0);
  assert_int_equal(relay_buf_position(&b), 9000);
  relay_buf_release_empty(&b);
  assert_null(b.data);
  assert_int_equal(b.cap, 0);
  assert_memory_equal(out, in, sizeof in);
  assert_int_equal(relay_buf_append(&b, in, 10), 0); /* usable again, the position going on */
  assert_int_equal(relay_buf_position(&b), 9000);
  assert_int_equal(relay_buf_pending(&b), 10);
  relay_buf_free(&b);
}

static void test_headers_copy_and_lookup(void **state) {
  (void)state;
  relay_headers h = {0};
  char name[32], value[32];
  for (int i = 0; i < 40; i++) { /* past the first growth */
    snprintf(name, sizeof name, "x-key-%d", i);
    snprintf(value, sizeof value, "value-%d", i);
    assert_int_equal(relay_headers_add(&h, (const uint8_t *)name, strlen(name), (const uint8_t *)value,
                                       strlen(value)), 0);
  }
  memset(name, 0, sizeof name); /* the list holds copies */
  size_t len = 0;
  const char *v = relay_headers_get(&h, "x-key-37", &len);
  assert_non_null(v);
  assert_int_equal(len, strlen("value-37"));
  assert_memory_equal(v, "value-37", len);
  assert_null(relay_headers_get(&h, "x-key-40", NULL));
  assert_null(relay_headers_get(&h, "x-key", NULL));
  /* Every name and value moved with the text block as it grew, still NUL-terminated. */
  for (int i = 0; i < 40; i++) {
    snprintf(name, sizeof name, "x-key-%d", i);
    snprintf(value, sizeof value, "value-%d", i);
    assert_string_equal((const char *)h.nv[i].name, name);
    assert_string_equal((const char *)h.nv[i].value, value);
    assert_int_equal(h.nv[i].valuelen, strlen(value));
  }
  /* A value with a NUL byte in it (binary metadata is base64, but nghttp2 allows it) keeps its length. */
  assert_int_equal(relay_headers_add(&h, (const uint8_t *)"b", 1, (const uint8_t *)"a\0b", 3), 0);
  v = relay_headers_get(&h, "b", &len);
  assert_int_equal(len, 3);
  assert_memory_equal(v, "a\0b", 3);
  relay_headers_free(&h);
}

/* A header list past 64 KiB is refused (the stream is reset), not grown without end. */
static void test_headers_are_bounded(void **state) {
  (void)state;
  relay_headers h = {0};
  static uint8_t big[20000];
  memset(big, 'v', sizeof big);
  int rc = 0, n = 0;
  while ((rc = relay_headers_add(&h, (const uint8_t *)"x-big", 5, big, sizeof big)) == 0 && n < 100) {
    n++;
  }
  assert_int_equal(rc, -1);
  assert_int_equal(n, 3);
  relay_headers_free(&h);
}

/* grpc-timeout values as the gRPC HTTP/2 spec writes them: 1 to 8 digits and a unit. */
static void test_timeout_parse(void **state) {
  (void)state;
  static const struct {
    const char *v;
    int64_t ns;
  } cases[] = {
      {"1n", 1},
      {"250u", 250000},
      {"1500m", INT64_C(1500000000)},
      {"5S", INT64_C(5000000000)},
      {"2M", INT64_C(120000000000)},
      {"1H", INT64_C(3600000000000)},
      {"00000007m", INT64_C(7000000)},
      {"0S", 0},
      {"99999999H", INT64_MAX}, /* more ns than int64 holds: as long as can be said */
      {"", -1},
      {"S", -1},
      {"5", -1},
      {"5s", -1},
      {"5x", -1},
      {"-5S", -1},
      {" 5S", -1},
      {"123456789S", -1}, /* nine digits */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_true(relay_timeout_parse(cases[i].v, strlen(cases[i].v)) == cases[i].ns);
  }
  assert_true(relay_timeout_parse(NULL, 0) == -1);
  assert_true(relay_timeout_parse("5S\0", 3) == -1); /* a NUL is no unit */
  assert_true(relay_timeout_parse("5Sx", 2) == INT64_C(5000000000)); /* only len bytes are read */
}

/* Written in the finest unit whose count has at most 8 digits, rounded down; never 0. */
static void test_timeout_format(void **state) {
  (void)state;
  static const struct {
    int64_t ns;
    const char *v;
  } cases[] = {
      {1, "1n"},
      {0, "1n"},  /* passed just now: the next hop sees it pass */
      {-7, "1n"},
      {99999999, "99999999n"},
      {100000000, "100000u"},
      {INT64_C(4999999999), "4999999u"},
      {INT64_C(99999999999), "99999999u"},
      {INT64_C(100000000000), "100000m"},
      {INT64_C(3600000000000), "3600000m"},
      {INT64_C(99999999999999), "99999999m"},
      {INT64_C(100000000000000), "100000S"},
      {INT64_C(100000000000000000), "1666666M"},
      {INT64_MAX, "2562047H"},
  };
  char out[RELAY_TIMEOUT_CAP];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = relay_timeout_format(cases[i].ns, out, sizeof out);
    assert_int_equal(n, strlen(cases[i].v));
    assert_string_equal(out, cases[i].v);
    /* What is written reads back as at most the time given, and within one of its units of it. */
    int64_t back = relay_timeout_parse(out, n);
    if (cases[i].ns >= 1) {
      assert_true(back <= cases[i].ns);
    }
  }
  assert_int_equal(relay_timeout_format(INT64_C(5000000000), out, 4), 0); /* "5000000u" does not fit */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_take_in_order_without_keep),
      cmocka_unit_test(test_keep_allows_replay_from_the_start),
      cmocka_unit_test(test_position_counts_across_drops),
      cmocka_unit_test(test_drop_taken_then_release),
      cmocka_unit_test(test_headers_copy_and_lookup),
      cmocka_unit_test(test_headers_are_bounded),
      cmocka_unit_test(test_timeout_parse),
      cmocka_unit_test(test_timeout_format),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
