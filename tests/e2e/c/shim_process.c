/*
 * shim_process.c - see shim_process.h. The child's stderr goes to a file that
 * is polled for the "listening on ADDR" line the shim logs once it serves.
 */
#define _POSIX_C_SOURCE 200809L

#include "shim_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void print_log(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[1024];
  fprintf(stderr, "---- shim log %s ----\n", path);
  while (fgets(line, sizeof line, f))
    fputs(line, stderr);
  fclose(f);
}

static int find_listening(const char *path, char *target, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char line[1024];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    char *at = strstr(line, "listening on ");
    if (!at) continue;
    at += strlen("listening on ");
    size_t n = strcspn(at, " \n");
    if (n > 0 && n < cap) {
      memcpy(target, at, n);
      target[n] = '\0';
      found = 1;
    }
  }
  fclose(f);
  return found;
}

int shim_process_start(shim_process *p, const char *program, const char *const *extra_args) {
  memset(p, 0, sizeof *p);
  snprintf(p->log_path, sizeof p->log_path, "/tmp/shimkit-e2e-%d-XXXXXX", (int)getpid());
  int fd = mkstemp(p->log_path);
  if (fd < 0) return -1;
  const char *argv[64];
  size_t n = 0;
  argv[n++] = program;
  argv[n++] = "--listen";
  argv[n++] = "127.0.0.1:0";
  for (size_t i = 0; extra_args && extra_args[i] && n < 62; i++)
    argv[n++] = extra_args[i];
  argv[n] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd, STDERR_FILENO);
  int rc = posix_spawn(&p->pid, program, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fd);
  if (rc != 0) {
    fprintf(stderr, "cannot start %s\n", program);
    p->pid = 0;
    return -1;
  }
  for (int i = 0; i < 400; i++) {
    if (find_listening(p->log_path, p->target, sizeof p->target)) return 0;
    int status;
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
      p->pid = 0;
      break;
    }
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
  }
  fprintf(stderr, "%s did not report 'listening on'\n", program);
  print_log(p->log_path);
  if (p->pid) shim_process_stop(p, SIGKILL);
  return -1;
}

int shim_process_stop(shim_process *p, int sig) {
  if (!p->pid) return -1;
  kill(p->pid, sig);
  int status = 0;
  waitpid(p->pid, &status, 0);
  p->pid = 0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code != 0) print_log(p->log_path);
  unlink(p->log_path);
  return code;
}
