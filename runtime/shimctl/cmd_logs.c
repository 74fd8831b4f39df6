/*
 * cmd_logs.c - shimctl logs SERVICE|SET|router|supervisor [--replica I]
 * [--follow]: a replica's output (stdout and stderr of the shim). Its log
 * file is <state>/logs/<set>-<i>.log, kept across restarts of the replica.
 * In the process environment the replica writes it; in the docker
 * environment it holds the output of the replica's containers that ended
 * (docker_log.h), so logs prints it, then the live container's output
 * (docker logs), each after a line saying where it comes from. A set no
 * longer in the stack (retired by a swap, scaled down) still has its file.
 */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* The number of --replica I, or -1 after saying it is not one (atoi read "abc" as replica 0). */
static int replica_number(const char *text) {
  char *end;
  long v = strtol(text, &end, 10);
  if (text[0] < '0' || text[0] > '9' || *end != '\0' || v >= SHIMCTL_MAX_REPLICAS) {
    fprintf(stderr, "shimctl logs: --replica wants a replica number from 0 to %d, got '%s'\n",
            SHIMCTL_MAX_REPLICAS - 1, text);
    return -1;
  }
  return (int)v;
}

/* A set or replica the stack no longer has: its log file, if one was kept. */
static int kept_only(const char *dir, const shimctl_state *st, const char *set_name, int replica) {
  char path[2 * SHIMCTL_PATH];
  struct stat sb;
  bool name_ok = strchr(set_name, '/') == NULL && set_name[0] != '.';
  snprintf(path, sizeof path, "%s/logs/%s-%d.log", dir, set_name, replica);
  if (!name_ok || stat(path, &sb) != 0) {
    fprintf(stderr, "shimctl logs: stack %s has no service or set %s with a replica %d, and no log %s\n",
            st->stack, set_name, replica, path);
    return SHIMCTL_EXIT_USAGE; /* a name or replica number that is not there: bad usage */
  }
  printf("==> %s: kept log of %s replica %d (no longer in the stack) <==\n", path, set_name, replica);
  return cat_file(path, false);
}

/* docker: the kept output of the replica's ended containers, then the live one's. */
static int kept_and_live(const shimctl_env *env, const char *path, const char *id, bool follow) {
  struct stat sb;
  if (stat(path, &sb) == 0) {
    printf("==> %s: kept output of this replica's containers that ended <==\n", path);
    if (cat_file(path, false) != SHIMCTL_EXIT_OK) {
      return SHIMCTL_EXIT_FAIL;
    }
  } else {
    printf("==> %s: none kept yet (no container of this replica has ended) <==\n", path);
  }
  if (id[0] == '\0') {
    printf("==> no live container: the supervisor is starting this replica again (see shimctl status) <==\n");
    fflush(stdout);
    return SHIMCTL_EXIT_OK;
  }
  if (env->alive(id) != 1) {
    printf(
        "==> container %s: not running; the supervisor keeps its output in the file above as it removes it "
        "(see shimctl status) <==\n",
        id);
    fflush(stdout);
    return SHIMCTL_EXIT_OK;
  }
  printf("==> container %s: live output (%s logs --timestamps%s) <==\n", id, env->name,
         follow ? " --follow" : "");
  fflush(stdout);
  signal(SIGINT, on_int);
  if (env->logs(id, follow, stdout) != 0) {
    fprintf(stderr,
            "shimctl logs: could not read the output of container %s (%s logs failed; see shimctl status)\n",
            id, env->name);
    return SHIMCTL_EXIT_FAIL;
  }
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
      if ((replica = replica_number(argv[++i])) < 0) {
        return SHIMCTL_EXIT_USAGE;
      }
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
  shimctl_replica *rep = set != NULL ? shimctl_set_replica(set, replica) : NULL;
  if (rep != NULL && rep->id[0] == '\0' && (set->retiring || rep->index >= set->replicas)) {
    rep = NULL; /* stopped for good (swapped out, scaled down): only its file is left */
  }
  if (rep == NULL) {
    rc = kept_only(dir, st, set != NULL ? set->name : what, replica);
    goto out;
  }
  snprintf(path, sizeof path, "%s/logs/%s-%d.log", dir, set->name, replica);
  const shimctl_env *env = shimctl_env_find(st->environment);
  if (env != NULL && env != &shimctl_env_process) {
    rc = kept_and_live(env, path, rep->id, follow);
    goto out;
  }
  rc = cat_file(path, follow);
out:
  free(st);
  shimctl_stack_free(stack);
  return rc;
}
