/*
 * metrics_http.c - a minimal HTTP/1.0 endpoint for GET /metrics.
 *
 * Prometheus scrapes over plain HTTP; the gRPC core cannot serve that, so a
 * small thread of its own accepts one connection at a time, reads a bounded
 * request head, answers and closes. Anything but GET /metrics gets 404 (405
 * for other verbs); slow or silent clients are cut off by a receive timeout.
 */
#define _POSIX_C_SOURCE 200809L

#include "metrics_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "shimkit/log.h"

#define REQUEST_HEAD_MAX 4096
#define RENDER_START_BYTES (64 * 1024)
#define RENDER_MAX_BYTES (16 * 1024 * 1024)
#define POLL_MS 200

static void write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    len -= (size_t)n;
  }
}

static void respond(int fd, const char *status, const char *body, size_t body_len) {
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                   status, body_len);
  write_all(fd, head, (size_t)n);
  write_all(fd, body, body_len);
}

/* Reads until the end of the request head, the limit, or the timeout. */
static size_t read_head(int fd, char *buf, size_t cap) {
  size_t len = 0;
  while (len + 1 < cap) {
    ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    buf[len] = '\0';
    if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n")) break;
  }
  buf[len] = '\0';
  return len;
}

static void serve_one(shimkit_metrics *m, int fd) {
  struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char head[REQUEST_HEAD_MAX];
  if (read_head(fd, head, sizeof head) == 0) return;
  if (strncmp(head, "GET ", 4) != 0) {
    static const char msg[] = "only GET is served here\n";
    respond(fd, "405 Method Not Allowed", msg, sizeof msg - 1);
    return;
  }
  const char *path = head + 4;
  size_t path_len = strcspn(path, " ?\r\n");
  if (!(path_len == 8 && strncmp(path, "/metrics", 8) == 0)) {
    static const char msg[] = "not found: the metrics are at /metrics\n";
    respond(fd, "404 Not Found", msg, sizeof msg - 1);
    return;
  }
  size_t cap = RENDER_START_BYTES;
  char *body = NULL;
  for (;;) {
    char *grown = realloc(body, cap);
    if (grown == NULL) break;
    body = grown;
    size_t need = shimkit_metrics_render(m, body, cap);
    if (need < cap) {
      respond(fd, "200 OK", body, need);
      free(body);
      return;
    }
    if (need + 1 > RENDER_MAX_BYTES) break;
    cap = need + 1;
  }
  free(body);
  static const char msg[] = "metrics too large or out of memory\n";
  respond(fd, "500 Internal Server Error", msg, sizeof msg - 1);
}

static void *http_main(void *arg) {
  shimkit_metrics *m = arg;
  while (!atomic_load(&m->http_stop)) {
    struct pollfd p = {.fd = m->http_fd, .events = POLLIN};
    int ready = poll(&p, 1, POLL_MS);
    if (ready <= 0) continue;
    int fd = accept(m->http_fd, NULL, NULL);
    if (fd < 0) continue;
    serve_one(m, fd);
    close(fd);
  }
  return NULL;
}

shimkit_code shimkit_metrics_listen(shimkit_metrics *m, const char *address, int *bound_port) {
  if (m == NULL || address == NULL) return SHIMKIT_INVALID_ARGUMENT;
  if (m->http_fd >= 0) return SHIMKIT_FAILED_PRECONDITION;
  const char *colon = strrchr(address, ':');
  char host[INET_ADDRSTRLEN];
  char *end;
  long port = colon ? strtol(colon + 1, &end, 10) : -1;
  size_t host_len = colon ? (size_t)(colon - address) : 0;
  struct sockaddr_in sa = {.sin_family = AF_INET};
  if (!colon || end == colon + 1 || *end != '\0' || port < 0 || port > 65535 || host_len == 0 ||
      host_len >= sizeof host) {
    shimkit_log(SHIMKIT_LOG_ERROR, "metrics", "metrics address '%s' is not IPv4:port", address);
    return SHIMKIT_INVALID_ARGUMENT;
  }
  memcpy(host, address, host_len);
  host[host_len] = '\0';
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    shimkit_log(SHIMKIT_LOG_ERROR, "metrics", "metrics address '%s' is not IPv4:port", address);
    return SHIMKIT_INVALID_ARGUMENT;
  }
  sa.sin_port = htons((uint16_t)port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return SHIMKIT_UNAVAILABLE;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "metrics", "cannot listen on %s: %s", address, strerror(errno));
    close(fd);
    return SHIMKIT_UNAVAILABLE;
  }
  socklen_t sl = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &sl);
  m->http_fd = fd;
  atomic_store(&m->http_stop, false);
  if (pthread_create(&m->http_thread, NULL, http_main, m) != 0) {
    close(fd);
    m->http_fd = -1;
    return SHIMKIT_RESOURCE_EXHAUSTED;
  }
  if (bound_port) *bound_port = ntohs(sa.sin_port);
  shimkit_log(SHIMKIT_LOG_INFO, "metrics", "serving Prometheus metrics on http://%s:%d/metrics", host,
              ntohs(sa.sin_port));
  return SHIMKIT_OK;
}

void shimkit__metrics_http_stop(shimkit_metrics *m) {
  if (m->http_fd < 0) return;
  atomic_store(&m->http_stop, true);
  pthread_join(m->http_thread, NULL);
  close(m->http_fd);
  m->http_fd = -1;
}
