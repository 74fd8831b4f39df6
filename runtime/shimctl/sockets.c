/*
 * sockets.c - replica addresses on unix sockets (see sockets.h): their
 * names, the check of their length and characters, and the clearing of a
 * socket file a killed replica left behind.
 */
#define _XOPEN_SOURCE 700
#include "sockets.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNIX_PREFIX "unix:"
#define UNIX_PREFIX_LEN 5

const char *shimctl_socket_bad_char(const char *path) {
  for (const char *p = path; *p != '\0'; p++) {
    bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
    if (!alnum && strchr("._/+~@=,-", *p) == NULL) {
      return p;
    }
  }
  return NULL;
}

bool shimctl_socket_path_ok(const char *path) {
  size_t n = path != NULL ? strlen(path) : 0;
  return n > 0 && n <= SHIMCTL_UNIX_PATH_MAX && shimctl_socket_bad_char(path) == NULL;
}

int shimctl_socket_addr(const char *dir, const char *set_name, int index, char *addr, size_t len) {
  int n = snprintf(addr, len, UNIX_PREFIX "%s/" SHIMCTL_SOCKETS_DIR "/%s-%d.sock", dir, set_name, index);
  if (n < 0 || (size_t)n >= len || !shimctl_socket_path_ok(addr + UNIX_PREFIX_LEN)) {
    if (len > 0) {
      addr[0] = '\0';
    }
    return -1;
  }
  return 0;
}

size_t shimctl_socket_longest(const char *dir, const shimctl_kind *kind) {
  size_t longest_impl = 0;
  for (const char *const *impl = kind->impls; *impl != NULL; impl++) {
    size_t n = strlen(*impl);
    longest_impl = n > longest_impl ? n : longest_impl;
  }
  /* dir "/sockets/" kind "-" impl "-NN" "-" "NN" ".sock" */
  return strlen(dir) + 1 + strlen(SHIMCTL_SOCKETS_DIR) + 1 + strlen(kind->name) + 1 + longest_impl + 3 + 1 +
         2 + strlen(".sock");
}

bool shimctl_replica_is_unix(const shimctl_replica *rep) {
  return strncmp(rep->addr, UNIX_PREFIX, UNIX_PREFIX_LEN) == 0;
}

void shimctl_replica_addr(const shimctl_replica *rep, char *buf, size_t len) {
  if (rep->addr[0] != '\0') {
    snprintf(buf, len, "%s", rep->addr);
  } else {
    snprintf(buf, len, "127.0.0.1:%d", rep->port);
  }
}

int shimctl_socket_prepare(const char *addr, char *err, size_t err_len) {
  if (strncmp(addr, UNIX_PREFIX, UNIX_PREFIX_LEN) != 0) {
    return 0;
  }
  const char *path = addr + UNIX_PREFIX_LEN;
  char dir[SHIMCTL_UNIX_PATH_MAX + 1];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash != NULL && slash != dir) {
    *slash = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
      snprintf(err, err_len, "cannot create %s: %s", dir, strerror(errno));
      return -1;
    }
  }
  /* gRPC core also unlinks a unix socket path before it binds; doing it here
   * keeps that out of what the shim has to get right, and leaves any other
   * kind of file alone (the shim then says it cannot listen). */
  struct stat sb;
  if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) && unlink(path) != 0 && errno != ENOENT) {
    snprintf(err, err_len, "cannot remove the old socket %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

void shimctl_socket_remove(const char *addr) {
  if (strncmp(addr, UNIX_PREFIX, UNIX_PREFIX_LEN) != 0) {
    return;
  }
  struct stat sb;
  const char *path = addr + UNIX_PREFIX_LEN;
  if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
    unlink(path);
  }
}
