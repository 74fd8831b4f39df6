/*
 * test_router_ip_port.c - the addresses the router's relay connects to by
 * itself (runtime/router/ip_port.c): numeric IPv4 and IPv6 "IP:PORT", and
 * "unix:PATH" replicas, turned into socket addresses; names and malformed
 * addresses left to gRPC core or refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/un.h>

#include "ip_port.h"

static void test_numeric(void **state) {
  (void)state;
  struct sockaddr_storage ss;
  socklen_t len = 0;
  assert_true(router_socket_address("127.0.0.1:50051", &ss, &len));
  assert_int_equal(ss.ss_family, AF_INET);
  assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 50051);
  assert_int_equal(len, sizeof(struct sockaddr_in));
  assert_true(router_socket_address("[::1]:7", &ss, &len));
  assert_int_equal(ss.ss_family, AF_INET6);
  assert_false(router_socket_address("localhost:80", &ss, &len)); /* a name: the channel resolves it */
  assert_false(router_socket_address("127.0.0.1", &ss, &len));
  assert_false(router_socket_address("127.0.0.1:65536", &ss, &len));
}

static void test_unix(void **state) {
  (void)state;
  struct sockaddr_storage ss;
  socklen_t len = 0;
  assert_true(router_unix_address("unix:/run/shimkit/r-0.sock"));
  assert_true(router_socket_address("unix:/run/shimkit/r-0.sock", &ss, &len));
  assert_int_equal(ss.ss_family, AF_UNIX);
  assert_string_equal(((struct sockaddr_un *)&ss)->sun_path, "/run/shimkit/r-0.sock");
  assert_int_equal(len, sizeof(struct sockaddr_un));
  assert_false(router_ip_port("unix:/run/shimkit/r-0.sock", &ss, &len)); /* what --listen of the relay takes */

  char longest[5 + ROUTER_MAX_UNIX_PATH + 2];
  memcpy(longest, "unix:/", 6);
  memset(longest + 6, 'x', ROUTER_MAX_UNIX_PATH - 1);
  longest[5 + ROUTER_MAX_UNIX_PATH] = '\0';
  assert_true(router_socket_address(longest, &ss, &len)); /* fills sun_path with its NUL */
  assert_int_equal(strlen(((struct sockaddr_un *)&ss)->sun_path), ROUTER_MAX_UNIX_PATH);
  assert_int_equal(ROUTER_MAX_UNIX_PATH + 1, sizeof((struct sockaddr_un *)0)->sun_path);
  longest[5 + ROUTER_MAX_UNIX_PATH] = 'x';
  longest[5 + ROUTER_MAX_UNIX_PATH + 1] = '\0';
  assert_false(router_unix_address(longest));
  assert_false(router_socket_address(longest, &ss, &len));

  const char *bad[] = {"unix:", "unix", "unix:/a b", "unix:/a\"b", "unix:/a\\b", "unix:/a\nb", "unix:/a\tb",
                       "UNIX:/a"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_false(router_unix_address(bad[i]));
    assert_false(router_socket_address(bad[i], &ss, &len));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_numeric),
      cmocka_unit_test(test_unix),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
