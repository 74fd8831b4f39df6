/*
 * env_process.c - the process environment: every replica is a child
 * process on loopback (a port on 127.0.0.1, or the unix socket its spec
 * names), its stdout and stderr appended to a log file.
 *
 * A replica's id is "PID@STARTTIME" (the start time from /proc/PID/stat, in
 * clock ticks since boot), so a pid reused by another process after the
 * replica died is never taken for the replica. A zombie counts as gone: the
 * supervisor (the parent) reaps its children on its own schedule. But the
 * main thread of a multi-threaded process that exits (or is killed) often
 * turns zombie first, while its other threads are still exiting; the last of
 * them releases the memory (slow under ASan) and only then the open files,
 * so the listening socket stays bound for up to a few hundred milliseconds.
 * Such a zombie is still alive here: a replica started again on its port
 * in that window failed to listen (and counted as a second restart), and
 * down or scale returned with the port still taken. A supervisor started
 * again later adopts running replicas by their id.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env.h"

#define PROCESS_MAX_ARGS 80

/* Reads state and start time of pid from /proc. 0, or -1 when it is gone. */
static int proc_stat(pid_t pid, char *state, unsigned long long *start) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return -1;
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) {
    return -1;
  }
  buf[n] = '\0';
  /* pid (comm) state ppid ... field 22 is starttime; comm may hold spaces. */
  char *p = strrchr(buf, ')');
  if (p == NULL || p[1] != ' ') {
    return -1;
  }
  *state = p[2];
  p += 2;
  for (int field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (p == NULL) {
      return -1;
    }
    p++;
  }
  *start = strtoull(p, NULL, 10);
  return 0;
}

/* Threads of pid, from /proc/PID/status; 0 when unknown. A zombie thread
 * group leader counts itself until it is reaped. */
static int proc_threads(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) {
    return 0;
  }
  buf[n] = '\0';
  const char *t = strstr(buf, "\nThreads:");
  return t != NULL ? atoi(t + strlen("\nThreads:")) : 0;
}

static int parse_id(const char *id, pid_t *pid, unsigned long long *start) {
  char *end = NULL;
  long v = strtol(id, &end, 10);
  if (v <= 0 || end == NULL || *end != '@') {
    return -1;
  }
  *pid = (pid_t)v;
  *start = strtoull(end + 1, NULL, 10);
  return 0;
}

static int process_alive(const char *id) {
  pid_t pid;
  unsigned long long want, start;
  char state;
  if (id == NULL || parse_id(id, &pid, &want) != 0) {
    /* Names no process (not "pid@start"): gone, for certain. Not -1 (unknown), which the
     * supervisor and down take as "may run, look again later": such an id never becomes one. */
    return 0;
  }
  if (proc_stat(pid, &state, &start) != 0) {
    return 0;
  }
  if (start != want || state == 'X') {
    return 0;
  }
  if (state == 'Z') {
    /* Gone only once no other thread still exits: they hold its sockets. */
    return proc_threads(pid) > 1 ? 1 : 0;
  }
  return 1;
}

static int process_start(const shimctl_replica_spec *spec, char *id, size_t id_len, char *err, size_t err_len) {
  const char *argv[PROCESS_MAX_ARGS + 4];
  char listen[256];
  int n = 0;
  argv[n++] = spec->program_path;
  for (const char *const *a = spec->args; a != NULL && *a != NULL && n < PROCESS_MAX_ARGS; a++) {
    argv[n++] = *a;
  }
  if (spec->listen != NULL) {
    snprintf(listen, sizeof listen, "%s", spec->listen);
  } else {
    snprintf(listen, sizeof listen, "%s:%d", spec->host != NULL ? spec->host : "127.0.0.1", spec->port);
  }
  argv[n++] = "--listen";
  argv[n++] = listen;
  argv[n] = NULL;
  if (access(spec->program_path, X_OK) != 0) {
    snprintf(err, err_len, "%s: %s", spec->program_path, strerror(errno));
    return -1;
  }
  int log_fd = open(spec->log_path != NULL ? spec->log_path : "/dev/null",
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    snprintf(err, err_len, "%s: %s", spec->log_path, strerror(errno));
    return -1;
  }
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, err_len, "fork: %s", strerror(errno));
    close(log_fd);
    if (null_fd >= 0) {
      close(null_fd);
    }
    return -1;
  }
  if (pid == 0) {
    /* Only async-signal-safe calls until exec. Its own process group, so a
     * Ctrl-C at the terminal that ran shimctl up does not reach it. */
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (null_fd >= 0) {
      dup2(null_fd, 0);
    }
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    if (spec->workdir != NULL && chdir(spec->workdir) != 0) {
      _exit(126);
    }
    execv(spec->program_path, (char *const *)argv);
    _exit(127);
  }
  close(log_fd);
  if (null_fd >= 0) {
    close(null_fd);
  }
  /* The start time is there as soon as fork returned. */
  char state;
  unsigned long long start = 0;
  if (proc_stat(pid, &state, &start) != 0) {
    start = 0;
  }
  snprintf(id, id_len, "%d@%llu", (int)pid, start);
  return 0;
}

static int process_stop(const char *id, int grace_ms) {
  pid_t pid;
  unsigned long long start;
  if (parse_id(id, &pid, &start) != 0) {
    return -1;
  }
  if (process_alive(id) != 1) {
    return 0;
  }
  kill(pid, SIGTERM);
  /* The shim drains for grace_ms; give it a second more to exit. */
  int waited = 0;
  const int step = 20;
  while (process_alive(id) == 1 && waited < grace_ms + 1000) {
    struct timespec ts = {0, step * 1000000L};
    nanosleep(&ts, NULL);
    waited += step;
  }
  if (process_alive(id) == 1) {
    kill(pid, SIGKILL);
    for (waited = 0; process_alive(id) == 1 && waited < 5000; waited += step) {
      struct timespec ts = {0, step * 1000000L};
      nanosleep(&ts, NULL);
    }
  }
  return process_alive(id) == 1 ? -1 : 0;
}

/* The log of a running replica: its stdout is the log file. */
static int process_logs(const char *id, bool follow, FILE *out) {
  pid_t pid;
  unsigned long long start;
  if (parse_id(id, &pid, &start) != 0 || process_alive(id) != 1) {
    return -1;
  }
  char link[64], path[1024];
  snprintf(link, sizeof link, "/proc/%d/fd/1", (int)pid);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) {
    return -1;
  }
  path[n] = '\0';
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    return -1;
  }
  char buf[8192];
  for (;;) {
    size_t got = fread(buf, 1, sizeof buf, f);
    if (got > 0) {
      fwrite(buf, 1, got, out);
      continue;
    }
    if (!follow) {
      break;
    }
    fflush(out);
    clearerr(f);
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
  }
  fclose(f);
  return 0;
}

const shimctl_env shimctl_env_process = {
    .name = "process",
    .start = process_start,
    .stop = process_stop,
    .alive = process_alive,
    .logs = process_logs,
    .ended = NULL, /* the supervisor reaps its children */
};
