/*
 * test_shim_bind_why.c - the reasons shim_bind_why() (services/common/
 * shim_bind_why.c) gives for a --listen address that cannot bind: a port
 * held by a real listening socket, a host that does not resolve, an address
 * of another machine, a unix socket in a missing folder or with a path too
 * long; and the plain question when the bind works after all.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shim_bind_why.h"

static void test_port_in_use(void **state) {
  (void)state;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 1), 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  char addr[64], want[128], why[320];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
  snprintf(want, sizeof want, "port %d is in use (--listen 127.0.0.1:0 picks a free port)", ntohs(a.sin_port));
  shim_bind_why(addr, why, sizeof why);
  assert_string_equal(why, want);
  close(fd);
  shim_bind_why(addr, why, sizeof why); /* free again: only the question is left */
  assert_string_equal(why, "is the port in use? try --listen 127.0.0.1:0");
}

static void test_host(void **state) {
  (void)state;
  char why[320];
  shim_bind_why("nohost.invalid:50051", why, sizeof why);
  assert_non_null(strstr(why, "nohost.invalid does not resolve ("));
  shim_bind_why("192.0.2.1:50051", why, sizeof why); /* TEST-NET-1: never this machine's */
  assert_string_equal(why, "192.0.2.1 is not an address of this machine");
}

static void test_unix(void **state) {
  (void)state;
  char why[320];
  shim_bind_why("unix:/nonexistent-shimkit/dir/x.sock", why, sizeof why);
  assert_string_equal(why, "its folder /nonexistent-shimkit/dir: No such file or directory");
  char file[] = "/tmp/shimkit-bind-why-XXXXXX", addr[64], want[96];
  int fd = mkstemp(file);
  assert_true(fd >= 0);
  snprintf(addr, sizeof addr, "unix:%s/x.sock", file);
  snprintf(want, sizeof want, "%s is not a folder", file);
  shim_bind_why(addr, why, sizeof why);
  assert_string_equal(why, want);
  close(fd);
  unlink(file);
  char longest[200] = "unix:/tmp/";
  memset(longest + 10, 'x', 120);
  shim_bind_why(longest, why, sizeof why);
  assert_string_equal(why, "a unix socket path has at most 107 bytes");
}

static void test_small_buffers(void **state) {
  (void)state;
  char why[8];
  shim_bind_why("nohost.invalid:1", why, sizeof why);
  assert_int_equal(strlen(why), sizeof why - 1);
  shim_bind_why("nohost.invalid:1", NULL, 0); /* no room: nothing written, no crash */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_port_in_use),
      cmocka_unit_test(test_host),
      cmocka_unit_test(test_unix),
      cmocka_unit_test(test_small_buffers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
