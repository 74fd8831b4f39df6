/*
 * shim_path.c - see shim_path.h. Walks the path once from its start, making
 * each part that is missing; a part created meanwhile by another process
 * (EEXIST) is fine as long as it is a directory.
 */
#define _POSIX_C_SOURCE 200809L
#include "shim_path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define SHIM_PATH_MAX 4096

/* mkdir that accepts a directory already there (and only a directory). */
static int make_one(const char *dir) {
  if (mkdir(dir, 0755) == 0) return 0;
  int saved = errno;
  struct stat st;
  if (saved == EEXIST) {
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    saved = ENOTDIR;
  }
  errno = saved;
  return -1;
}

int shim_mkdir_p(const char *dir) {
  char buf[SHIM_PATH_MAX];
  size_t n = dir ? strlen(dir) : 0;
  if (n == 0) {
    errno = ENOENT;
    return -1;
  }
  if (n >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, dir, n + 1);
  for (char *p = buf + 1; *p != '\0'; p++) {
    if (*p != '/' || p[-1] == '/') continue; /* "a//b": the empty part is no folder */
    *p = '\0';
    int rc = make_one(buf);
    *p = '/';
    if (rc != 0) return -1;
  }
  return make_one(buf);
}

int shim_mkdir_parent(const char *path) {
  const char *slash = path ? strrchr(path, '/') : NULL;
  if (slash == NULL || slash == path) return 0; /* "file" or "/file": the folder is there */
  char buf[SHIM_PATH_MAX];
  size_t n = (size_t)(slash - path);
  if (n >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, path, n);
  buf[n] = '\0';
  return shim_mkdir_p(buf);
}
