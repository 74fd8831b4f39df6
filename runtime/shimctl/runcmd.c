/*
 * runcmd.c - outside programs run from argv arrays (see runcmd.h).
 *
 * posix_spawnp with a pipe for the output: no shell, no quoting, and the
 * child gets /dev/null as stdin so a program that would prompt (docker login,
 * kubectl) fails instead of waiting on the operator's terminal.
 */
#define _GNU_SOURCE /* pipe2 */
#define _POSIX_C_SOURCE 200809L
#include "runcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Where the child's stdout (and stderr) go. */
enum out_mode { OUT_PIPE, OUT_PIPE_MERGED, OUT_INHERIT, OUT_NULL };

/* Spawns argv; *pipe_rd receives the read end when mode is a pipe mode. */
static int spawn(const char *const argv[], enum out_mode mode, pid_t *pid, int *pipe_rd, char *err, size_t err_len) {
  int fds[2] = {-1, -1};
  /* CLOEXEC: a child spawned by another thread meanwhile (the supervisor's
   * stop threads run the docker CLI while its loop starts the router) must
   * not inherit the write end, or this read sees no EOF until that child
   * exits. The dup2 onto the child's 1 and 2 clears the flag there. */
  if ((mode == OUT_PIPE || mode == OUT_PIPE_MERGED) && pipe2(fds, O_CLOEXEC) != 0) {
    snprintf(err, err_len, "pipe: %s", strerror(errno));
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (fds[1] >= 0) {
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    if (mode == OUT_PIPE_MERGED) posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
  } else if (mode == OUT_NULL) {
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  }
  /* posix_spawnp takes char *const[]; it does not modify the strings. */
  int rc = posix_spawnp(pid, argv[0], &fa, NULL, (char *const *)(void *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (fds[1] >= 0) close(fds[1]);
  if (rc != 0) {
    if (fds[0] >= 0) close(fds[0]);
    snprintf(err, err_len, "cannot run %s: %s", argv[0], strerror(rc));
    return -1;
  }
  if (pipe_rd) *pipe_rd = fds[0];
  return 0;
}

/* Waits for pid; exit status, 128+signal, or -1. */
static int reap(pid_t pid, const char *name, char *err, size_t err_len) {
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) {
      snprintf(err, err_len, "waitpid %s: %s", name, strerror(errno));
      return -1;
    }
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

int shimctl_runcmd_capture(const char *const argv[], int merge_stderr, char **out, char *err, size_t err_len) {
  *out = NULL;
  pid_t pid;
  int rd;
  if (spawn(argv, merge_stderr ? OUT_PIPE_MERGED : OUT_PIPE, &pid, &rd, err, err_len) != 0) return -1;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  char chunk[4096];
  for (;;) {
    ssize_t n = read(rd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size_t take = (size_t)n;
    if (len + take > SHIMCTL_RUNCMD_MAX_OUTPUT) take = SHIMCTL_RUNCMD_MAX_OUTPUT - len;
    if (buf && take > 0) {
      if (len + take + 1 > cap) {
        size_t ncap = cap;
        while (len + take + 1 > ncap) ncap *= 2;
        char *nb = realloc(buf, ncap);
        if (!nb) {
          free(buf);
          buf = NULL;
        } else {
          buf = nb;
          cap = ncap;
        }
      }
      if (buf) {
        memcpy(buf + len, chunk, take);
        len += take;
      }
    }
  }
  close(rd);
  int rc = reap(pid, argv[0], err, err_len);
  if (!buf) {
    snprintf(err, err_len, "out of memory reading the output of %s", argv[0]);
    return -1;
  }
  buf[len] = '\0';
  *out = buf;
  return rc;
}

int shimctl_runcmd_stream(const char *const argv[], FILE *out, char *err, size_t err_len) {
  pid_t pid;
  int rd = -1;
  if (spawn(argv, out ? OUT_PIPE_MERGED : OUT_INHERIT, &pid, out ? &rd : NULL, err, err_len) != 0) return -1;
  if (out) {
    char chunk[4096];
    for (;;) {
      ssize_t n = read(rd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      fwrite(chunk, 1, (size_t)n, out);
      fflush(out);
    }
    close(rd);
  }
  return reap(pid, argv[0], err, err_len);
}

int shimctl_runcmd_quiet(const char *const argv[]) {
  pid_t pid;
  char err[256];
  if (spawn(argv, OUT_NULL, &pid, NULL, err, sizeof err) != 0) return -1;
  return reap(pid, argv[0], err, sizeof err);
}

int shimctl_runcmd_have(const char *program) {
  struct stat st;
  if (strchr(program, '/')) return stat(program, &st) == 0 && (st.st_mode & S_IXUSR);
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  char dir[4096];
  while (*path) {
    size_t n = strcspn(path, ":");
    if (n > 0 && n < sizeof dir - 1) {
      char full[4096 + 256];
      memcpy(dir, path, n);
      dir[n] = '\0';
      snprintf(full, sizeof full, "%s/%s", dir, program);
      if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR)) return 1;
    }
    path += n;
    if (*path == ':') path++;
  }
  return 0;
}

const char *shimctl_runcmd_docker(void) {
  const char *d = getenv("SHIMCTL_DOCKER");
  return d && *d ? d : "docker";
}
