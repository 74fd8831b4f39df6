/*
 * test_metrics.c - the metrics registry's rendering and its HTTP endpoint:
 * truncation contract, bad addresses, and hostile HTTP clients.
 * (Counting real calls is covered end to end in tests/e2e/python/test_metrics.py.)
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
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shimkit/metrics.h"

static void test_render_empty_and_truncated(void **state) {
  (void)state;
  shimkit_metrics *m = shimkit_metrics_new();
  assert_non_null(m);
  char big[4096];
  size_t need = shimkit_metrics_render(m, big, sizeof big);
  assert_true(need > 0 && need < sizeof big);
  assert_int_equal(strlen(big), need);
  assert_non_null(strstr(big, "# TYPE shimkit_call_duration_seconds histogram"));
  char small[16];
  memset(small, 'x', sizeof small);
  assert_int_equal(shimkit_metrics_render(m, small, sizeof small), need);
  assert_int_equal(small[sizeof small - 1], '\0');
  assert_int_equal(strlen(small), sizeof small - 1);
  assert_int_equal(shimkit_metrics_render(m, NULL, 0), need);
  shimkit_metrics_free(m);
  shimkit_metrics_free(NULL);
}

static void test_bad_addresses(void **state) {
  (void)state;
  shimkit_metrics *m = shimkit_metrics_new();
  const char *bad[] = {
      "",    "nowhere", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:12x", "999.0.0.1:80",
      ":80", "[::1]:80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(shimkit_metrics_listen(m, bad[i], NULL), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metrics_listen(NULL, "127.0.0.1:0", NULL), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metrics_attach(m, NULL), SHIMKIT_INVALID_ARGUMENT);
  shimkit_metrics_free(m);
}

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  return fd;
}

/* Sends request, returns the first line of the answer in line. */
static void exchange(int port, const char *request, size_t len, char *line, size_t cap) {
  int fd = connect_to(port);
  size_t sent = 0;
  while (sent < len) {
    ssize_t n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += (size_t)n;
  }
  shutdown(fd, SHUT_WR);
  char buf[8192];
  size_t got = 0;
  ssize_t n;
  while (got < sizeof buf - 1 && (n = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0)
    got += (size_t)n;
  buf[got] = '\0';
  close(fd);
  size_t first = strcspn(buf, "\r\n");
  snprintf(line, cap, "%.*s", (int)first, buf);
}

static void test_http_endpoint(void **state) {
  (void)state;
  shimkit_metrics *m = shimkit_metrics_new();
  int port = 0;
  assert_int_equal(shimkit_metrics_listen(m, "127.0.0.1:0", &port), SHIMKIT_OK);
  assert_true(port > 0);
  assert_int_equal(shimkit_metrics_listen(m, "127.0.0.1:0", NULL), SHIMKIT_FAILED_PRECONDITION);
  char line[256];
  const char get[] = "GET /metrics HTTP/1.0\r\n\r\n";
  exchange(port, get, strlen(get), line, sizeof line);
  assert_string_equal(line, "HTTP/1.0 200 OK");
  const char other[] = "GET /secrets HTTP/1.0\r\n\r\n";
  exchange(port, other, strlen(other), line, sizeof line);
  assert_string_equal(line, "HTTP/1.0 404 Not Found");
  const char post[] = "POST /metrics HTTP/1.0\r\n\r\n";
  exchange(port, post, strlen(post), line, sizeof line);
  assert_string_equal(line, "HTTP/1.0 405 Method Not Allowed");
  /* A head far over the limit, no line breaks: answered or closed, never a crash. */
  static char flood[20000];
  memset(flood, 'A', sizeof flood);
  exchange(port, flood, sizeof flood, line, sizeof line);
  /* Binary garbage, and an empty connection. */
  const char junk[] = "\x00\xff\x16\x03\x01\x02";
  exchange(port, junk, sizeof junk, line, sizeof line);
  exchange(port, "", 0, line, sizeof line);
  assert_string_equal(line, "");
  /* Still serving. */
  exchange(port, get, strlen(get), line, sizeof line);
  assert_string_equal(line, "HTTP/1.0 200 OK");
  shimkit_metrics_free(m);
}

/* A collector: one gauge whose value is the int user_data points to. */
static size_t collect_gauge(char *buf, size_t cap, void *user_data) {
  int n = snprintf(buf, cap, "# TYPE extra_gauge gauge\nextra_gauge %d\n", *(int *)user_data);
  return n > 0 ? (size_t)n : 0;
}

static void test_collectors(void **state) {
  (void)state;
  shimkit_metrics *m = shimkit_metrics_new();
  int value = 41;
  assert_int_equal(shimkit_metrics_add_collector(NULL, collect_gauge, &value), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metrics_add_collector(m, NULL, &value), SHIMKIT_INVALID_ARGUMENT);
  assert_int_equal(shimkit_metrics_add_collector(m, collect_gauge, &value), SHIMKIT_OK);
  char big[8192];
  size_t need = shimkit_metrics_render(m, big, sizeof big);
  assert_int_equal(strlen(big), need);
  assert_non_null(strstr(big, "\nextra_gauge 41\n"));
  value = 42; /* read on every render */
  shimkit_metrics_render(m, big, sizeof big);
  assert_non_null(strstr(big, "\nextra_gauge 42\n"));
  /* Cut anywhere, the length needed stays the same and the text NUL-terminated. */
  for (size_t cap = 0; cap < need + 2; cap += 7) {
    char small[8192];
    memset(small, 'z', sizeof small);
    assert_int_equal(shimkit_metrics_render(m, cap ? small : NULL, cap), need);
    if (cap > 0) assert_true(strlen(small) < cap);
  }
  for (int i = 1; i < 8; i++) assert_int_equal(shimkit_metrics_add_collector(m, collect_gauge, &value), SHIMKIT_OK);
  assert_int_equal(shimkit_metrics_add_collector(m, collect_gauge, &value), SHIMKIT_RESOURCE_EXHAUSTED);
  shimkit_metrics_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_empty_and_truncated),
      cmocka_unit_test(test_bad_addresses),
      cmocka_unit_test(test_http_endpoint),
      cmocka_unit_test(test_collectors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
