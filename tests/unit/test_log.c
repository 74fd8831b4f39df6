/*
 * test_log.c - log levels from $SHIMKIT_LOG_LEVEL and shimkit_log_set_level,
 * the line format, the cut of over-long lines, and JSON-safe access lines.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log_internal.h"
#include "shimkit/log.h"

/* Runs fn with stderr sent to a file; returns what it wrote (static buffer). */
static const char *capture(void (*fn)(void)) {
  static char out[3 * SHIMKIT__LOG_LINE_MAX];
  char path[] = "/tmp/shimkit-log-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  lseek(fd, 0, SEEK_SET);
  ssize_t n = read(fd, out, sizeof out - 1);
  out[n > 0 ? n : 0] = '\0';
  close(fd);
  unlink(path);
  return out;
}

static void test_env_level(void **state) {
  (void)state;
  /* The first use reads the environment. */
  setenv("SHIMKIT_LOG_LEVEL", "error", 1);
  assert_false(shimkit__log_enabled(SHIMKIT_LOG_WARN));
  assert_true(shimkit__log_enabled(SHIMKIT_LOG_ERROR));
  shimkit_log_set_level(SHIMKIT_LOG_DEBUG);
  assert_true(shimkit__log_enabled(SHIMKIT_LOG_DEBUG));
  shimkit_log_set_level(SHIMKIT_LOG_OFF);
  assert_false(shimkit__log_enabled(SHIMKIT_LOG_ERROR));
  assert_false(shimkit__log_enabled(SHIMKIT_LOG_OFF));
  shimkit_log_set_level(SHIMKIT_LOG_INFO);
}

static void log_two(void) {
  shimkit_log(SHIMKIT_LOG_DEBUG, "test", "dropped");
  shimkit_log(SHIMKIT_LOG_WARN, "test", "value %d\nsecond line", 42);
}

static void test_format(void **state) {
  (void)state;
  const char *out = capture(log_two);
  /* "2026-11-25T15:09:31.123Z WARN test value 42 second line\n" */
  assert_int_equal(strlen(out), 24 + strlen(" WARN test value 42 second line\n"));
  assert_int_equal(out[10], 'T');
  assert_int_equal(out[23], 'Z');
  assert_string_equal(out + 24, " WARN test value 42 second line\n");
}

static void log_long(void) {
  char *big = malloc(10000);
  memset(big, 'x', 9999);
  big[9999] = '\0';
  shimkit_log(SHIMKIT_LOG_ERROR, NULL, "%s", big);
  free(big);
}

static void test_long_line_cut(void **state) {
  (void)state;
  const char *out = capture(log_long);
  size_t n = strlen(out);
  assert_int_equal(n, SHIMKIT__LOG_LINE_MAX); /* cut line plus newline */
  assert_memory_equal(out + n - 4, "...\n", 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_env_level),
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_long_line_cut),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
