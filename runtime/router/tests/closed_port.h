/*
 * closed_port.h - a loopback port the router's unit tests can name as a
 * replica that never answers: bound (so nobody else takes it) but not
 * listening. Shared by test_router_pick.c and test_router_service_health.c;
 * include after <cmocka.h>.
 */
#ifndef SHIMKIT_ROUTER_TEST_CLOSED_PORT_H
#define SHIMKIT_ROUTER_TEST_CLOSED_PORT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* A socket bound to 127.0.0.1 on a free port (*port), not listening: close it when done. */
static inline int closed_port(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

#endif /* SHIMKIT_ROUTER_TEST_CLOSED_PORT_H */
