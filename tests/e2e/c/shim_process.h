/*
 * shim_process.h - starts a shim program as a real child process on a free
 * loopback port and stops it, for end-to-end tests written in C.
 */
#ifndef SHIMKIT_TEST_SHIM_PROCESS_H
#define SHIMKIT_TEST_SHIM_PROCESS_H

#include <sys/types.h>

typedef struct shim_process {
  pid_t pid;          /* child process id, 0 when not running */
  char target[64];    /* "127.0.0.1:PORT" once it listens */
  char log_path[256]; /* its stderr, kept for failure reports */
} shim_process;

/* Starts program with extra args (NULL-terminated) and "--listen 127.0.0.1:0";
 * waits up to 20 s for "listening on". 0 on success, -1 (and the log printed). */
int shim_process_start(shim_process *p, const char *program, const char *const *extra_args);

/* Sends sig and waits for the exit; returns the exit status (or 128+signal). */
int shim_process_stop(shim_process *p, int sig);

#endif
