/*
 * shim_bind_why.c - see shim_bind_why.h. The bind tried here is closed at
 * once; it never listens.
 */
#define _POSIX_C_SOURCE 200809L
#include "shim_bind_why.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define GUESS "is the port in use? try --listen 127.0.0.1:0"
#define UNIX_PATH_MAX_LEN 107 /* sockaddr_un.sun_path, less its NUL */

/* Splits "HOST:PORT" or "[V6]:PORT" into host and port. 0, or -1 when it has neither shape. */
static int split(const char *addr, char *host, size_t host_cap, const char **port) {
  const char *colon = strrchr(addr, ':');
  if (colon == NULL) return -1;
  const char *h = addr;
  size_t n = (size_t)(colon - addr);
  if (addr[0] == '[' && n >= 2 && addr[n - 1] == ']') {
    h++;
    n -= 2;
  }
  if (n == 0 || n >= host_cap) return -1;
  memcpy(host, h, n);
  host[n] = '\0';
  *port = colon + 1;
  return 0;
}

/* Why a unix socket could not bind at path: too long, its folder missing or not a folder, or not writable. */
static void unix_why(const char *path, char *why, size_t cap) {
  if (strlen(path) > UNIX_PATH_MAX_LEN) {
    snprintf(why, cap, "a unix socket path has at most %d bytes", UNIX_PATH_MAX_LEN);
    return;
  }
  char dir[4096];
  const char *slash = strrchr(path, '/');
  size_t n = slash == NULL ? 0 : (slash == path ? 1 : (size_t)(slash - path));
  if (n == 0 || n >= sizeof dir) {
    snprintf(why, cap, "is the current folder writable?");
    return;
  }
  memcpy(dir, path, n);
  dir[n] = '\0';
  struct stat st;
  if (stat(dir, &st) != 0) {
    snprintf(why, cap, "its folder %s: %s", dir, strerror(errno));
  } else if (!S_ISDIR(st.st_mode)) {
    snprintf(why, cap, "%s is not a folder", dir);
  } else {
    snprintf(why, cap, "can this user write in %s?", dir);
  }
}

void shim_bind_why(const char *addr, char *why, size_t cap) {
  if (why == NULL || cap == 0) return;
  snprintf(why, cap, "%s", GUESS);
  if (strncmp(addr, "unix:", 5) == 0) {
    unix_why(addr + 5, why, cap);
    return;
  }
  char host[256];
  const char *port = NULL;
  if (split(addr, host, sizeof host, &port) != 0) return;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
  struct addrinfo *res = NULL;
  int gai = getaddrinfo(host, port, &hints, &res);
  if (gai != 0) {
    snprintf(why, cap, "%s does not resolve (%s)", host, gai_strerror(gai));
    return;
  }
  int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  int err = 0;
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* as gRPC core does */
    err = bind(fd, res->ai_addr, res->ai_addrlen) == 0 ? 0 : errno;
    close(fd);
  }
  freeaddrinfo(res);
  switch (err) {
  case 0: break; /* it binds now: keep the guess */
  case EADDRINUSE:
    snprintf(why, cap, "port %s is in use (--listen %s%s%s:0 picks a free port)", port, addr[0] == '[' ? "[" : "",
             host, addr[0] == '[' ? "]" : "");
    break;
  case EADDRNOTAVAIL: snprintf(why, cap, "%s is not an address of this machine", host); break;
  case EACCES: snprintf(why, cap, "ports below 1024 need root or CAP_NET_BIND_SERVICE"); break;
  default: snprintf(why, cap, "%s", strerror(err)); break;
  }
}
