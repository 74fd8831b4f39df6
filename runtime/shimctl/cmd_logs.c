/*
 * cmd_logs.c - shimctl logs SERVICE|SET|router|supervisor [--replica I]
 * [--follow]: a replica's output (stdout and stderr of the shim). In the
 * process environment the logs are files in <state>/logs, kept across
 * restarts of the replica; in others, the environment's own log command.
 */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "shimctl.h"

static volatile sig_atomic_t g_stop;
static void on_int(int sig) {
  (void)sig;
  g_stop = 1;
}

static int cat_file(const char *path, bool follow) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    fprintf(stderr, "shimctl logs: no log %s\n", path);
    return SHIMCTL_EXIT_FAIL;
  }
  signal(SIGINT, on_int);
  signal(SIGTERM, on_int);
  char buf[8192];
  while (!g_stop) {
    size_t got = fread(buf, 1, sizeof buf, f);
    if (got > 0) {
      fwrite(buf, 1, got, stdout);
      continue;
    }
    if (!follow) {
      break;
    }
    fflush(stdout);
    clearerr(f);
    shimctl_sleep_ms(200);
  }
  fflush(stdout);
  fclose(f);
  return SHIMCTL_EXIT_OK;
}

int shimctl_cmd_logs(const shimctl_opts *o, int argc, char **argv) {
  const char *what = NULL;
  int replica = 0;
  bool follow = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--follow") == 0) {
      follow = true;
    } else if (strcmp(argv[i], "--replica") == 0 && i + 1 < argc) {
      replica = atoi(argv[++i]);
    } else if (what == NULL && argv[i][0] != '-') {
      what = argv[i];
    } else {
      fprintf(stderr, "shimctl logs: unexpected argument '%s' (try shimctl logs --help)\n", argv[i]);
      return SHIMCTL_EXIT_USAGE;
    }
  }
  if (what == NULL) {
    fprintf(stderr, "shimctl logs: name a service, a set, router or supervisor\n");
    return SHIMCTL_EXIT_USAGE;
  }
  shimctl_stack *stack = NULL;
  shimctl_state *st = NULL;
  char dir[SHIMCTL_PATH], path[2 * SHIMCTL_PATH];
  int lr = shimctl_load(o, &stack, &st, dir, sizeof dir);
  int rc = SHIMCTL_EXIT_FAIL;
  if (lr != 0) {
    rc = lr == 1 ? SHIMCTL_EXIT_FAIL : SHIMCTL_EXIT_USAGE;
    goto out;
  }
  if (strcmp(what, "router") == 0 || strcmp(what, "supervisor") == 0) {
    snprintf(path, sizeof path, strcmp(what, "router") == 0 ? "%s/logs/router.log" : "%s/supervisor.log", dir);
    rc = cat_file(path, follow);
    goto out;
  }
  shimctl_set *set = shimctl_state_find_set(st, what);
  if (set == NULL) {
    set = shimctl_state_active_set(st, what);
  }
  if (set == NULL) {
    fprintf(stderr, "shimctl logs: stack %s has no service or set %s\n", st->stack, what);
    goto out;
  }
  shimctl_replica *rep = shimctl_set_replica(set, replica);
  if (rep == NULL) {
    fprintf(stderr, "shimctl logs: %s has no replica %d\n", set->name, replica);
    goto out;
  }
  const shimctl_env *env = shimctl_env_find(st->environment);
  if (env != NULL && env != &shimctl_env_process && rep->id[0] != '\0') {
    signal(SIGINT, on_int);
    rc = env->logs(rep->id, follow, stdout) == 0 ? SHIMCTL_EXIT_OK : SHIMCTL_EXIT_FAIL;
    goto out;
  }
  snprintf(path, sizeof path, "%s/logs/%s-%d.log", dir, set->name, replica);
  rc = cat_file(path, follow);
out:
  free(st);
  shimctl_stack_free(stack);
  return rc;
}
