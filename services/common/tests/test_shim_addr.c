/*
 * test_shim_addr.c - the --listen check every shim shares
 * (services/common/shim_addr.h): a table of addresses accepted and refused,
 * each refusal with its reason. gRPC core would have listened somewhere for
 * every refused one (":99999" on another port, ":" on 443).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "shim_addr.h"

static void test_accepted(void **state) {
  (void)state;
  static const char *good[] = {
      "127.0.0.1:0", "127.0.0.1:50051", "0.0.0.0:65535",    "localhost:8080",     "[::1]:0",
      "[::]:50051",  "[fe80::1%lo]:1",  "unix:/tmp/x.sock", "unix:relative.sock", "127.0.0.1:00080",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char why[128] = "untouched";
    if (shim_addr_check(good[i], why, sizeof why) != 0) fail_msg("'%s' refused: %s", good[i], why);
    assert_string_equal(why, "");
  }
}

static void test_refused(void **state) {
  (void)state;
  static const struct {
    const char *addr, *why;
  } bad[] = {
      {"127.0.0.1:99999", "the port 99999 is out of range (0..65535)"},
      {"127.0.0.1:65536", "the port 65536 is out of range (0..65535)"},
      {"127.0.0.1:9999999999999999999999", "the port 9999999999999999999999 is out of range (0..65535)"},
      {"127.0.0.1:", "no port after the ':'"},
      {"127.0.0.1:-1", "the port '-1' is not a number"},
      {"127.0.0.1:+80", "the port '+80' is not a number"},
      {"127.0.0.1: 80", "the port ' 80' is not a number"},
      {"127.0.0.1:http", "the port 'http' is not a number"},
      {"127.0.0.1:80x", "the port '80x' is not a number"},
      {"notanaddress", "no ':PORT'"},
      {":50051", "no host before ':PORT'"},
      {"", "it is empty"},
      {"::1:50051", "an IPv6 address goes in brackets: [ADDR]:PORT"},
      {"[::1]", "no ':PORT' after ']'"},
      {"[::1]50051", "no ':PORT' after ']'"},
      {"[::1]:", "no port after the ':'"},
      {"[::1]:70000", "the port 70000 is out of range (0..65535)"},
      {"[::1:50051", "no ']' after the IPv6 address"},
      {"[]:50051", "no IPv6 address between '[' and ']'"},
      {"unix:", "unix: needs a path"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char why[128];
    if (shim_addr_check(bad[i].addr, why, sizeof why) != -1) fail_msg("'%s' accepted", bad[i].addr);
    assert_string_equal(why, bad[i].why);
  }
}

static void test_null_and_small_buffers(void **state) {
  (void)state;
  assert_int_equal(shim_addr_check(NULL, NULL, 0), -1);
  assert_int_equal(shim_addr_check("127.0.0.1:99999", NULL, 0), -1);
  char why[8];
  assert_int_equal(shim_addr_check("127.0.0.1:99999", why, sizeof why), -1);
  assert_string_equal(why, "the por"); /* cut, still terminated */
  assert_int_equal(shim_addr_check("127.0.0.1:1", why, 0), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accepted),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_null_and_small_buffers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
