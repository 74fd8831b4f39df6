/*
 * test_shim_sha256.c - the shared artifact checksum (services/common/shim_sha256.h):
 * the FIPS 180-2 test vectors in one piece and fed in parts, a file, and the
 * error of a file that is not there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim_sha256.h"

#define ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define TWO_BLOCKS "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define TWO_BLOCKS_TEXT "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"

static void digest_of(const char *text, size_t part, char hex[SHIM_SHA256_HEX_LEN + 1]) {
  shim_sha256 *h = shim_sha256_new();
  assert_non_null(h);
  size_t len = strlen(text);
  for (size_t at = 0; at < len; at += part) {
    size_t n = len - at < part ? len - at : part;
    assert_int_equal(shim_sha256_update(h, text + at, n), 0);
  }
  assert_int_equal(shim_sha256_update(h, "", 0), 0);
  assert_int_equal(shim_sha256_hex(h, hex), 0);
  shim_sha256_free(h);
}

static void test_vectors(void **state) {
  (void)state;
  char hex[SHIM_SHA256_HEX_LEN + 1];
  digest_of("abc", 3, hex);
  assert_string_equal(hex, ABC);
  digest_of("", 1, hex);
  assert_string_equal(hex, EMPTY);
  for (size_t part = 1; part <= 64; part *= 2) {
    digest_of(TWO_BLOCKS_TEXT, part, hex);
    assert_string_equal(hex, TWO_BLOCKS);
  }
  shim_sha256_free(NULL);
}

static void test_file(void **state) {
  (void)state;
  char path[] = "/tmp/test_shim_sha256.XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, TWO_BLOCKS_TEXT, strlen(TWO_BLOCKS_TEXT)), (ssize_t)strlen(TWO_BLOCKS_TEXT));
  close(fd);
  char hex[SHIM_SHA256_HEX_LEN + 1];
  uint64_t size = 1;
  assert_int_equal(shim_sha256_file(path, hex, &size), 0);
  assert_string_equal(hex, TWO_BLOCKS);
  assert_int_equal(size, strlen(TWO_BLOCKS_TEXT));
  unlink(path);

  errno = 0;
  assert_int_equal(shim_sha256_file(path, hex, &size), -1);
  assert_int_equal(errno, ENOENT);
  assert_int_equal(size, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors),
      cmocka_unit_test(test_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
