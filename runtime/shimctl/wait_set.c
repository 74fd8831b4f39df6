/*
 * wait_set.c - waiting for a set's replicas to answer SERVING, giving up
 * early on one that cannot start. A replica with a bad flag (a typo in the
 * stack file's config) exits at once, every time the supervisor starts it
 * again; waiting out the whole --timeout for it told nothing for a minute
 * and then only that it was not SERVING. Here the state's restart count of
 * each replica is watched: once one that never answered SERVING has exited
 * SHIMCTL_CRASH_LIMIT times since the wait began, the wait ends with how it
 * last ended and the end of its log file, which holds the shim's reason.
 */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "shimctl.h"
#include "sockets.h"

#define SHIMCTL_CRASH_LIMIT 3 /* exits without ever being SERVING that end the wait */
#define SHIMCTL_LOG_TAIL 5    /* lines of its log shown then */
#define TAIL_BYTES 16384      /* read from the end of the log for them */

/* One replica waited for. */
typedef struct waited {
  int index;     /* replica number */
  int base;      /* its restarts when the wait began */
  bool serving;  /* answered SERVING once */
  char addr[SHIMCTL_ADDR]; /* 127.0.0.1:PORT or unix:PATH */
} waited;

/* Prints the last n lines of the file at path, indented; nothing when it cannot be read. */
static void print_tail(const char *path, int n) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    fprintf(stderr, "    (no log: %s)\n", path);
    return;
  }
  char buf[TAIL_BYTES + 1];
  long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  long from = size > TAIL_BYTES ? size - TAIL_BYTES : 0;
  size_t got = size >= 0 && fseek(f, from, SEEK_SET) == 0 ? fread(buf, 1, TAIL_BYTES, f) : 0;
  fclose(f);
  buf[got] = '\0';
  while (got > 0 && buf[got - 1] == '\n')
    buf[--got] = '\0';
  char *start = buf;
  int lines = 0;
  for (char *p = buf + got; p > buf; p--) {
    if (p[-1] == '\n' && ++lines == n) {
      start = p;
      break;
    }
  }
  for (char *line = start, *nl; line != NULL && *line != '\0'; line = nl != NULL ? nl + 1 : NULL) {
    nl = strchr(line, '\n');
    fprintf(stderr, "    %.*s\n", nl != NULL ? (int)(nl - line) : (int)strlen(line), line);
  }
}

/* The replicas of set_name to wait for (those it wants), with their restart counts now; how many, or -1. */
static int begin(const char *dir, const char *set_name, shimctl_state *st, waited *w) {
  shimctl_set *set = shimctl_reload(dir, st) == 0 ? shimctl_state_find_set(st, set_name) : NULL;
  if (set == NULL) {
    fprintf(stderr, "shimctl: %s is not in the state of %s\n", set_name, dir);
    return -1;
  }
  int n = 0;
  for (int i = 0; i < set->n_rep && n < SHIMCTL_MAX_REPLICAS; i++) {
    if (set->rep[i].index < set->replicas) {
      w[n] = (waited){.index = set->rep[i].index, .base = set->rep[i].restarts};
      shimctl_replica_addr(&set->rep[i], w[n].addr, sizeof w[n].addr);
      n++;
    }
  }
  return n;
}

/* -1 after saying so when a replica not SERVING yet has exited SHIMCTL_CRASH_LIMIT times; else 0. */
static int check_crashes(const char *dir, const char *set_name, shimctl_state *st, const waited *w, int n) {
  shimctl_set *set = shimctl_reload(dir, st) == 0 ? shimctl_state_find_set(st, set_name) : NULL;
  for (int i = 0; set != NULL && i < n; i++) {
    const shimctl_replica *rep = w[i].serving ? NULL : shimctl_set_replica(set, w[i].index);
    int exits = rep != NULL ? rep->restarts - w[i].base : 0;
    if (exits >= SHIMCTL_CRASH_LIMIT) {
      char path[SHIMCTL_PATH + SHIMCTL_STR + 32];
      snprintf(path, sizeof path, "%s/logs/%s-%d.log", dir, set_name, w[i].index);
      fprintf(
          stderr,
          "shimctl: %s replica %d (%s) exited %d times without becoming SERVING (last: %s); the end of %s:\n",
          set_name, w[i].index, w[i].addr, exits, rep->last_exit, path);
      print_tail(path, SHIMCTL_LOG_TAIL);
      return -1;
    }
  }
  return 0;
}

int shimctl_wait_set_serving(const char *dir, const char *set_name, int timeout_ms) {
  shimctl_state *st = shimctl_state_new();
  waited w[SHIMCTL_MAX_REPLICAS];
  int n = st != NULL ? begin(dir, set_name, st, w) : -1;
  int serving = 0, last_reported = -1, rc = n < 0 ? -1 : 1;
  int64_t deadline = shimctl_mono_ms() + timeout_ms;
  while (rc == 1) {
    for (int i = 0; i < n; i++) {
      if (!w[i].serving && shimctl_health_serving(w[i].addr, 1000)) {
        w[i].serving = true;
        serving++;
      }
    }
    if (serving != last_reported) {
      shimctl_say("%s: %d/%d SERVING", set_name, serving, n);
      last_reported = serving;
    }
    if (serving == n) {
      rc = 0;
    } else if (check_crashes(dir, set_name, st, w, n) != 0) {
      rc = -1;
    } else if (shimctl_mono_ms() > deadline) {
      for (int i = 0; i < n; i++) {
        if (!w[i].serving) {
          fprintf(stderr, "shimctl: %s: %s is not SERVING after %d ms\n", set_name, w[i].addr, timeout_ms);
        }
      }
      rc = -1;
    } else {
      shimctl_sleep_ms(100);
    }
  }
  free(st);
  return rc;
}
