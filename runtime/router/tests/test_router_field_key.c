/*
 * test_router_field_key.c - the hash-on-field wire reader (field_key.c):
 * which value is the key (last of a singular field, first of a repeated
 * one, packed or not, through nested messages), the key bytes of every
 * scalar type, and malformed input (every truncation, random corruption,
 * huge lengths, varint overflow, wrong wire types, groups) answered with -1
 * or 0 and never a read out of bounds (each input sits in a buffer of its
 * exact size, for ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "field_key.h"
#include "spec.h"

/* ---- building wire bytes ---------------------------------------------------- */

typedef struct buf {
  uint8_t b[4096];
  size_t n;
} buf;

static void put(buf *w, const void *p, size_t n) {
  assert_true(w->n + n <= sizeof w->b);
  memcpy(w->b + w->n, p, n);
  w->n += n;
}

static void varint(buf *w, uint64_t v) {
  do {
    uint8_t c = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    put(w, &c, 1);
    v >>= 7;
  } while (v != 0);
}

static void tag(buf *w, uint32_t num, int wt) {
  varint(w, ((uint64_t)num << 3) | (uint64_t)wt);
}

static void str(buf *w, uint32_t num, const char *s) {
  tag(w, num, 2);
  varint(w, strlen(s));
  put(w, s, strlen(s));
}

static void sub(buf *w, uint32_t num, const buf *inner) {
  tag(w, num, 2);
  varint(w, inner->n);
  put(w, inner->b, inner->n);
}

static router_field_path path1(uint32_t num, int type, bool repeated) {
  router_field_path p;
  memset(&p, 0, sizeof p);
  p.n = 1;
  p.steps[0].number = num;
  p.steps[0].type = type;
  p.steps[0].repeated = repeated;
  return p;
}

/* Runs the reader on an exact-size copy (ASan sees any overread). */
static int get(const uint8_t *data, size_t len, const router_field_path *p, char *out, size_t cap) {
  uint8_t *copy = malloc(len > 0 ? len : 1);
  memcpy(copy, data, len);
  router_field_value k;
  int r = router_field_key_get(copy, len, p, &k);
  if (r == 1 && out != NULL) {
    assert_true(k.len < cap);
    memcpy(out, k.data, k.len);
    out[k.len] = '\0';
  }
  free(copy);
  return r;
}

/* ---- which value ------------------------------------------------------------ */

static void test_string_field(void **state) {
  (void)state;
  buf w = {0};
  tag(&w, 2, 0); /* delay_ms = 7: skipped */
  varint(&w, 7);
  str(&w, 1, "alice");
  tag(&w, 9, 1); /* an unknown fixed64 */
  put(&w, "12345678", 8);
  tag(&w, 10, 5); /* an unknown fixed32 */
  put(&w, "1234", 4);
  router_field_path p = path1(1, ROUTER_FT_STRING, false);
  char out[64];
  assert_int_equal(get(w.b, w.n, &p, out, sizeof out), 1);
  assert_string_equal(out, "alice");
  /* A later occurrence overrides (protobuf's rule for a singular field). */
  str(&w, 1, "bob");
  assert_int_equal(get(w.b, w.n, &p, out, sizeof out), 1);
  assert_string_equal(out, "bob");
  /* Absent, and the empty message. */
  router_field_path q = path1(3, ROUTER_FT_STRING, false);
  assert_int_equal(get(w.b, w.n, &q, out, sizeof out), 0);
  assert_int_equal(get(w.b, 0, &q, out, sizeof out), 0);
  /* An empty string that is on the wire is a key (empty). */
  buf e = {0};
  str(&e, 1, "");
  assert_int_equal(get(e.b, e.n, &p, out, sizeof out), 1);
  assert_string_equal(out, "");
}

static void test_repeated_first(void **state) {
  (void)state;
  buf w = {0};
  str(&w, 4, "first");
  str(&w, 4, "second");
  router_field_path p = path1(4, ROUTER_FT_STRING, true);
  char out[64];
  assert_int_equal(get(w.b, w.n, &p, out, sizeof out), 1);
  assert_string_equal(out, "first");
  /* Packed int64s: the first element; an empty packed run is skipped. */
  buf v = {0};
  tag(&v, 5, 2);
  varint(&v, 0);
  tag(&v, 5, 2);
  buf run = {0};
  varint(&run, 300);
  varint(&run, 7);
  varint(&v, run.n);
  put(&v, run.b, run.n);
  router_field_path q = path1(5, ROUTER_FT_INT64, true);
  assert_int_equal(get(v.b, v.n, &q, out, sizeof out), 1);
  assert_string_equal(out, "300");
  /* Unpacked repeated varints: the first. */
  buf u = {0};
  tag(&u, 5, 0);
  varint(&u, 11);
  tag(&u, 5, 0);
  varint(&u, 12);
  assert_int_equal(get(u.b, u.n, &q, out, sizeof out), 1);
  assert_string_equal(out, "11");
  /* Packed encoding of a field declared singular is refused. */
  router_field_path s = path1(5, ROUTER_FT_INT64, false);
  assert_int_equal(get(v.b, v.n, &s, out, sizeof out), -1);
}

static void test_nested(void **state) {
  (void)state;
  /* Request { Key key = 3 { string entity_id = 2; } ; repeated Key keys = 4 } */
  buf k1 = {0};
  str(&k1, 1, "table");
  str(&k1, 2, "e-17");
  buf k2 = {0};
  str(&k2, 2, "e-99");
  buf w = {0};
  str(&w, 1, "m");
  sub(&w, 3, &k1);
  sub(&w, 4, &k2);
  sub(&w, 4, &k1);
  router_field_path p;
  memset(&p, 0, sizeof p);
  p.n = 2;
  p.steps[0] = (router_field_step){3, ROUTER_FT_MESSAGE, false};
  p.steps[1] = (router_field_step){2, ROUTER_FT_STRING, false};
  char out[64];
  assert_int_equal(get(w.b, w.n, &p, out, sizeof out), 1);
  assert_string_equal(out, "e-17");
  /* The repeated message: its first element only. */
  p.steps[0] = (router_field_step){4, ROUTER_FT_MESSAGE, true};
  assert_int_equal(get(w.b, w.n, &p, out, sizeof out), 1);
  assert_string_equal(out, "e-99");
  /* First element without the field: no key (later elements are not searched). */
  buf k3 = {0};
  str(&k3, 1, "only-table");
  buf x = {0};
  sub(&x, 4, &k3);
  sub(&x, 4, &k1);
  assert_int_equal(get(x.b, x.n, &p, out, sizeof out), 0);
  /* A singular message sent twice merges: the last value found wins, and a
   * later occurrence without the field keeps the earlier value. */
  buf y = {0};
  sub(&y, 3, &k2);
  sub(&y, 3, &k1);
  sub(&y, 3, &k3);
  p.steps[0] = (router_field_step){3, ROUTER_FT_MESSAGE, false};
  assert_int_equal(get(y.b, y.n, &p, out, sizeof out), 1);
  assert_string_equal(out, "e-17");
  /* An integer key inside a nested message (buf-held key copied out of the recursion). */
  buf n = {0};
  tag(&n, 7, 0);
  varint(&n, 4242);
  buf z = {0};
  sub(&z, 3, &n);
  p.steps[1] = (router_field_step){7, ROUTER_FT_UINT32, false};
  assert_int_equal(get(z.b, z.n, &p, out, sizeof out), 1);
  assert_string_equal(out, "4242");
}

static void check_varint(int type, uint64_t wire, const char *want) {
  buf w = {0};
  tag(&w, 1, 0);
  varint(&w, wire);
  router_field_path p = path1(1, type, false);
  char out[64];
  assert_int_equal(get(w.b, w.n, &p, out, sizeof out), 1);
  assert_string_equal(out, want);
}

static void test_scalar_keys(void **state) {
  (void)state;
  check_varint(ROUTER_FT_INT32, 42, "42");
  check_varint(ROUTER_FT_INT32, (uint64_t)(int64_t)-1, "-1"); /* 10-byte varint */
  check_varint(ROUTER_FT_INT64, (uint64_t)(int64_t)-5, "-5");
  check_varint(ROUTER_FT_UINT32, 4294967295u, "4294967295");
  check_varint(ROUTER_FT_UINT64, UINT64_MAX, "18446744073709551615");
  check_varint(ROUTER_FT_SINT32, 3, "-2"); /* zigzag */
  check_varint(ROUTER_FT_SINT32, 4, "2");
  check_varint(ROUTER_FT_SINT64, 1, "-1");
  check_varint(ROUTER_FT_SINT64, UINT64_MAX, "-9223372036854775808");
  check_varint(ROUTER_FT_BOOL, 1, "true");
  check_varint(ROUTER_FT_BOOL, 0, "false");
  check_varint(ROUTER_FT_ENUM, 3, "3");
  /* Fixed-width: the wire bytes as they are. */
  buf w = {0};
  tag(&w, 2, 5);
  put(&w, "\x01\x02\x03\x04", 4);
  tag(&w, 3, 1);
  put(&w, "ABCDEFGH", 8);
  router_field_value k;
  router_field_path p = path1(2, ROUTER_FT_FIXED32, false);
  assert_int_equal(router_field_key_get(w.b, w.n, &p, &k), 1);
  assert_int_equal(k.len, 4);
  assert_memory_equal(k.data, "\x01\x02\x03\x04", 4);
  p = path1(3, ROUTER_FT_DOUBLE, false);
  assert_int_equal(router_field_key_get(w.b, w.n, &p, &k), 1);
  assert_int_equal(k.len, 8);
  assert_memory_equal(k.data, "ABCDEFGH", 8);
  /* bytes: raw, zero bytes included. */
  buf b = {0};
  tag(&b, 6, 2);
  varint(&b, 3);
  put(&b, "\x00\xff\x00", 3);
  p = path1(6, ROUTER_FT_BYTES, false);
  assert_int_equal(router_field_key_get(b.b, b.n, &p, &k), 1);
  assert_int_equal(k.len, 3);
  assert_memory_equal(k.data, "\x00\xff\x00", 3);
}

static void test_groups_skipped(void **state) {
  (void)state;
  buf w = {0};
  tag(&w, 5, 3); /* group 5 { group 6 { varint 1 } } */
  tag(&w, 6, 3);
  tag(&w, 1, 0);
  varint(&w, 9);
  tag(&w, 6, 4);
  tag(&w, 5, 4);
  str(&w, 1, "after");
  router_field_path p = path1(1, ROUTER_FT_STRING, false);
  char out[64];
  assert_int_equal(get(w.b, w.n, &p, out, sizeof out), 1);
  assert_string_equal(out, "after");
  /* Mismatched end group, an end group with no start, groups too deep. */
  buf m = {0};
  tag(&m, 5, 3);
  tag(&m, 6, 4);
  assert_int_equal(get(m.b, m.n, &p, out, sizeof out), -1);
  buf e = {0};
  tag(&e, 5, 4);
  assert_int_equal(get(e.b, e.n, &p, out, sizeof out), -1);
  buf d = {0};
  for (int i = 0; i < 40; i++) {
    tag(&d, 5, 3);
  }
  for (int i = 0; i < 40; i++) {
    tag(&d, 5, 4);
  }
  assert_int_equal(get(d.b, d.n, &p, out, sizeof out), -1);
}

/* ---- malformed input ---------------------------------------------------------- */

static void test_bad_paths(void **state) {
  (void)state;
  uint8_t one = 0x08;
  router_field_value k;
  router_field_path p = path1(1, ROUTER_FT_MESSAGE, false); /* the last step is a message */
  assert_int_equal(router_field_key_get(&one, 1, &p, &k), -1);
  p = path1(0, ROUTER_FT_STRING, false);
  assert_int_equal(router_field_key_get(&one, 1, &p, &k), -1);
  p = path1(1, 99, false);
  p.n = 0;
  assert_int_equal(router_field_key_get(&one, 1, &p, &k), -1);
  p.n = ROUTER_FIELD_MAX_DEPTH + 1;
  assert_int_equal(router_field_key_get(&one, 1, &p, &k), -1);
  p = path1(1, ROUTER_FT_STRING, false);
  p.n = 2;
  p.steps[1] = p.steps[0]; /* a step before the last that is not a message */
  assert_int_equal(router_field_key_get(&one, 1, &p, &k), -1);
  assert_int_equal(router_field_key_get(NULL, 1, &p, &k), -1);
  assert_int_equal(router_field_key_get(&one, 1, NULL, &k), -1);
}

static void test_wrong_wire_types(void **state) {
  (void)state;
  buf w = {0};
  tag(&w, 1, 0); /* a varint where a string is declared */
  varint(&w, 5);
  router_field_path p = path1(1, ROUTER_FT_STRING, false);
  assert_int_equal(get(w.b, w.n, &p, NULL, 0), -1);
  buf s = {0};
  str(&s, 1, "x"); /* a string where an int32 is declared (not repeated: no packed) */
  p = path1(1, ROUTER_FT_INT32, false);
  assert_int_equal(get(s.b, s.n, &p, NULL, 0), -1);
  buf f = {0};
  tag(&f, 1, 1); /* fixed64 bytes where fixed32 is declared */
  put(&f, "12345678", 8);
  p = path1(1, ROUTER_FT_FIXED32, false);
  assert_int_equal(get(f.b, f.n, &p, NULL, 0), -1);
  /* A nested step that is not length-delimited. */
  router_field_path n;
  memset(&n, 0, sizeof n);
  n.n = 2;
  n.steps[0] = (router_field_step){1, ROUTER_FT_MESSAGE, false};
  n.steps[1] = (router_field_step){1, ROUTER_FT_STRING, false};
  assert_int_equal(get(w.b, w.n, &n, NULL, 0), -1);
  /* Wire types 6 and 7 do not exist; field number 0 is invalid. */
  uint8_t t6[] = {0x0e, 0x00};
  uint8_t t7[] = {0x0f};
  uint8_t t0[] = {0x00, 0x01};
  p = path1(2, ROUTER_FT_STRING, false);
  assert_int_equal(get(t6, sizeof t6, &p, NULL, 0), -1);
  assert_int_equal(get(t7, sizeof t7, &p, NULL, 0), -1);
  assert_int_equal(get(t0, sizeof t0, &p, NULL, 0), -1);
}

static void test_huge_lengths_and_varints(void **state) {
  (void)state;
  router_field_path p = path1(1, ROUTER_FT_STRING, false);
  router_field_path q = path1(2, ROUTER_FT_STRING, false);
  /* Lengths far past the end, up to 2^64-1. */
  uint64_t lens[] = {5, 1u << 20, 0x7fffffffu, 0xffffffffu, (uint64_t)1 << 62, UINT64_MAX};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    buf w = {0};
    tag(&w, 1, 2);
    varint(&w, lens[i]);
    put(&w, "abc", 3);
    assert_int_equal(get(w.b, w.n, &p, NULL, 0), -1);
    assert_int_equal(get(w.b, w.n, &q, NULL, 0), -1); /* while skipping, too */
  }
  /* Varints: 11 bytes; a 10th byte over 1; a tag over 32 bits; a truncated one. */
  uint8_t v11[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  uint8_t v10[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
  uint8_t bigtag[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  uint8_t cut[] = {0x08, 0x80};
  router_field_path v = path1(1, ROUTER_FT_UINT64, false);
  assert_int_equal(get(v11, sizeof v11, &v, NULL, 0), -1);
  assert_int_equal(get(v10, sizeof v10, &v, NULL, 0), -1);
  assert_int_equal(get(bigtag, sizeof bigtag, &v, NULL, 0), -1);
  assert_int_equal(get(cut, sizeof cut, &v, NULL, 0), -1);
  assert_int_equal(get(v11, sizeof v11, &q, NULL, 0), -1);
  /* Fixed-width values cut short. */
  uint8_t f32[] = {0x0d, 0x01, 0x02};
  uint8_t f64[] = {0x09, 0x01, 0x02, 0x03};
  router_field_path f = path1(1, ROUTER_FT_FIXED32, false);
  assert_int_equal(get(f32, sizeof f32, &f, NULL, 0), -1);
  f = path1(1, ROUTER_FT_FIXED64, false);
  assert_int_equal(get(f64, sizeof f64, &f, NULL, 0), -1);
  assert_int_equal(get(f64, sizeof f64, &q, NULL, 0), -1);
  /* A packed run whose last element is cut. */
  uint8_t packed[] = {0x0a, 0x01, 0x80};
  router_field_path r = path1(1, ROUTER_FT_INT32, true);
  assert_int_equal(get(packed, sizeof packed, &r, NULL, 0), -1);
  uint8_t packed32[] = {0x0a, 0x02, 0x01, 0x02};
  r = path1(1, ROUTER_FT_SFIXED32, true);
  assert_int_equal(get(packed32, sizeof packed32, &r, NULL, 0), -1);
}

/* A message with a bit of everything, the key at the end of a nested message. */
static void sample(buf *w) {
  buf inner = {0};
  tag(&inner, 1, 0);
  varint(&inner, 1234567);
  tag(&inner, 3, 1);
  put(&inner, "ABCDEFGH", 8);
  tag(&inner, 4, 3);
  tag(&inner, 1, 5);
  put(&inner, "abcd", 4);
  tag(&inner, 4, 4);
  str(&inner, 2, "entity-key");
  str(w, 1, "hello");
  tag(w, 2, 0);
  varint(w, (uint64_t)(int64_t)-3);
  sub(w, 3, &inner);
  tag(w, 5, 5);
  put(w, "wxyz", 4);
}

static router_field_path sample_path(void) {
  router_field_path p;
  memset(&p, 0, sizeof p);
  p.n = 2;
  p.steps[0] = (router_field_step){3, ROUTER_FT_MESSAGE, false};
  p.steps[1] = (router_field_step){2, ROUTER_FT_STRING, false};
  return p;
}

static void test_every_truncation(void **state) {
  (void)state;
  buf w = {0};
  sample(&w);
  router_field_path paths[] = {sample_path(), path1(1, ROUTER_FT_STRING, false),
                               path1(2, ROUTER_FT_INT32, false), path1(5, ROUTER_FT_FIXED32, true),
                               path1(9, ROUTER_FT_BYTES, false)};
  char out[64];
  assert_int_equal(get(w.b, w.n, &paths[0], out, sizeof out), 1);
  assert_string_equal(out, "entity-key");
  for (size_t cut = 0; cut < w.n; cut++) {
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
      int r = get(w.b, cut, &paths[i], out, sizeof out);
      assert_true(r >= -1 && r <= 1);
    }
  }
}

/* xorshift64: a fixed seed, so a failure reproduces. */
static uint64_t rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void test_random_corruption(void **state) {
  (void)state;
  buf w = {0};
  sample(&w);
  router_field_path paths[] = {sample_path(), path1(1, ROUTER_FT_STRING, false),
                               path1(2, ROUTER_FT_SINT64, true), path1(5, ROUTER_FT_FLOAT, true)};
  uint64_t seed = 0x5eed5eed12345678ULL;
  char out[sizeof w.b + 1];
  for (int iter = 0; iter < 20000; iter++) {
    uint8_t m[sizeof w.b];
    size_t n = w.n;
    memcpy(m, w.b, n);
    int flips = 1 + (int)(rnd(&seed) % 4);
    for (int f = 0; f < flips; f++) {
      size_t at = (size_t)(rnd(&seed) % n);
      switch (rnd(&seed) % 3) {
      case 0: m[at] = (uint8_t)rnd(&seed); break;
      case 1: m[at] ^= (uint8_t)(1u << (rnd(&seed) % 8)); break;
      default: m[at] = (rnd(&seed) & 1) ? 0xff : 0x80; break;
      }
    }
    if (rnd(&seed) % 4 == 0) {
      n = (size_t)(rnd(&seed) % (n + 1));
    }
    int r = get(m, n, &paths[iter % 4], out, sizeof out);
    assert_true(r >= -1 && r <= 1);
  }
  /* Plain random bytes too. */
  for (int iter = 0; iter < 5000; iter++) {
    uint8_t m[64];
    size_t n = (size_t)(rnd(&seed) % sizeof m);
    for (size_t i = 0; i < n; i++) {
      m[i] = (uint8_t)rnd(&seed);
    }
    int r = get(m, n, &paths[iter % 4], out, sizeof out);
    assert_true(r >= -1 && r <= 1);
  }
}

/* ---- field paths as sets give them (spec.c) ------------------------------------ */

static void test_valid_field_paths(void **state) {
  (void)state;
  const char *good[] = {"model_name", "key.entity_id", "a", "_x.y_2.Z", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p"};
  const char *bad[] = {"",     ".a",  "a.",  "a..b", "1a",
                       "a.2b", "a-b", "a b", "a/b",  "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    if (!router_valid_field_path(good[i])) {
      fail_msg("refused %s", good[i]);
    }
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (router_valid_field_path(bad[i])) {
      fail_msg("accepted %s", bad[i]);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_string_field),
      cmocka_unit_test(test_repeated_first),
      cmocka_unit_test(test_nested),
      cmocka_unit_test(test_scalar_keys),
      cmocka_unit_test(test_groups_skipped),
      cmocka_unit_test(test_bad_paths),
      cmocka_unit_test(test_wrong_wire_types),
      cmocka_unit_test(test_huge_lengths_and_varints),
      cmocka_unit_test(test_every_truncation),
      cmocka_unit_test(test_random_corruption),
      cmocka_unit_test(test_valid_field_paths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
