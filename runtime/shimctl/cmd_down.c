/*
 * cmd_down.c - shimctl down: SIGTERM to the supervisor, which stops every
 * replica and the router (each drains its calls) and exits; then the
 * stack's state directory (state, router state, logs, the replicas' unix
 * sockets) is removed. With no
 * supervisor running, shimctl stops what the state lists itself. In the
 * kubernetes environment: kubectl delete of the stack's Deployments and
 * Services (shimctl_down_kubernetes, cmd_up_kubernetes.c).
 */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "env.h"
#include "shimctl.h"
#include "sockets.h"
#include "supervise.h"

/* down on a stack that is not up (no state, no supervisor): nothing to stop, which is what down
 * wants, so exit 0 (down twice is fine); a folder left by an up refused before it started anything
 * (lock files, empty logs/) is removed, unless --keep-logs. */
static int down_not_up(const char *name, const char *dir, bool keep_logs) {
  struct stat sb;
  if (stat(dir, &sb) == 0 && !keep_logs) {
    if (shimctl_command_lock(dir, "down") != 0) {
      return SHIMCTL_EXIT_FAIL; /* an up is under way: not ours to remove */
    }
    shimctl_remove_tree(dir);
    shimctl_say("stack %s is not up: nothing to stop (%s removed)", name, dir);
  } else {
    shimctl_say("stack %s is not up: nothing to stop", name);
  }
  return SHIMCTL_EXIT_OK;
}

/* True when dir holds no state of a stack and no supervisor runs for it. */
static bool not_up(const char *dir) {
  struct stat sb;
  if (stat(dir, &sb) != 0) {
    return true; /* no folder: no state, no supervisor */
  }
  shimctl_state *st = shimctl_state_new();
  int fd = st != NULL ? shimctl_state_lock(dir) : -1;
  int r = fd >= 0 ? shimctl_state_read(dir, st) : -1;
  shimctl_state_unlock(fd);
  bool empty = r == 1 || (r == 0 && st->stack[0] == '\0');
  free(st);
  return empty && shimctl_supervisor_pid(dir) == 0;
}

int shimctl_cmd_down(const shimctl_opts *o, int argc, char **argv) {
  bool keep_logs = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--keep-logs") == 0) {
      keep_logs = true;
    } else {
      fprintf(stderr, "shimctl down: unexpected argument '%s' (try shimctl down --help)\n", argv[i]);
      return SHIMCTL_EXIT_USAGE;
    }
  }
  shimctl_stack *stack = shimctl_load_stack(o);
  if (stack == NULL) {
    return SHIMCTL_EXIT_USAGE;
  }
  if (strcmp(stack->environment, "kubernetes") == 0) {
    int krc = shimctl_down_kubernetes(o, stack); /* kubectl delete: no supervisor, no state */
    shimctl_stack_free(stack);
    return krc;
  }
  shimctl_state *st = NULL;
  char dir[SHIMCTL_PATH];
  shimctl_state_dir(stack, dir, sizeof dir);
  if (not_up(dir)) {
    int nrc = down_not_up(stack->name, dir, keep_logs);
    shimctl_stack_free(stack);
    return nrc;
  }
  shimctl_stack_free(stack);
  stack = NULL;
  int rc = shimctl_load_locked(o, "down", &stack, &st, dir, sizeof dir);
  if (rc != SHIMCTL_EXIT_OK) {
    goto out;
  }
  rc = SHIMCTL_EXIT_FAIL;
  int64_t t0 = shimctl_mono_ms();
  int max_drain = 1000;
  for (int i = 0; i < st->n_sets; i++) {
    max_drain = st->sets[i].drain_grace_ms > max_drain ? st->sets[i].drain_grace_ms : max_drain;
  }
  pid_t sup = shimctl_supervisor_pid(dir);
  if (sup > 0) {
    shimctl_say("stack %s: stopping (supervisor pid %d; replicas drain up to %d ms)", st->stack, (int)sup, max_drain);
    kill(sup, SIGTERM);
    int64_t deadline = shimctl_mono_ms() + max_drain + o->timeout_ms;
    while (shimctl_supervisor_pid(dir) != 0 && shimctl_mono_ms() < deadline) {
      shimctl_sleep_ms(50);
    }
    if (shimctl_supervisor_pid(dir) != 0) {
      fprintf(stderr, "shimctl down: the supervisor did not stop in time; see %s/supervisor.log\n", dir);
      goto out;
    }
    int fd = shimctl_state_lock(dir);
    shimctl_state_read(dir, st);
    shimctl_state_unlock(fd);
  } else {
    shimctl_say("stack %s: no supervisor running; stopping what the state lists", st->stack);
  }
  /* Whatever still runs (no supervisor, or it could not stop something). */
  const shimctl_env *env = shimctl_env_find(st->environment);
  bool stop_failed = false;
  for (int i = 0; env != NULL && i < st->n_sets; i++) {
    for (int r = 0; r < st->sets[i].n_rep; r++) {
      const char *id = st->sets[i].rep[r].id;
      int alive = id[0] != '\0' ? env->alive(id) : 0;
      if (alive != 0) {
        /* Running -- or unknown (docker inspect failed): stop, not ended's rm -f, which
         * would kill a running one without its drain. A stop that fails leaves it be. */
        shimctl_say("stopping %s/%d (%s)%s", st->sets[i].name, st->sets[i].rep[r].index, id,
                    alive < 0 ? ", which may or may not run (cannot tell)" : "");
        if (env->stop(id, st->sets[i].drain_grace_ms) != 0) {
          fprintf(stderr, "shimctl down: could not stop %s; it may still run\n", id);
          stop_failed = true;
        }
      } else if (id[0] != '\0' && env->ended != NULL) {
        /* Dead, not yet seen by a supervisor: docker keeps its output and removes it. */
        char how[SHIMCTL_STR];
        env->ended(id, how, sizeof how);
      }
    }
  }
  if (st->router_id[0] != '\0' && shimctl_env_process.alive(st->router_id) == 1) {
    shimctl_say("stopping the router (%s)", st->router_id);
    shimctl_env_process.stop(st->router_id, 1000);
  }
  if (stop_failed) {
    /* The state is what names it: removing it would leave a replica that may run with nothing to
     * find it by, and say the stack is down. */
    fprintf(stderr, "shimctl down: stack %s is not down: the state in %s is kept; run shimctl down again\n",
            st->stack, dir);
    goto out;
  }
  if (keep_logs) {
    char path[SHIMCTL_PATH + 32];
    const char *files[] = {"state", "state.lock", "router.state", "supervisor.pid", NULL};
    for (int i = 0; files[i] != NULL; i++) {
      snprintf(path, sizeof path, "%s/%s", dir, files[i]);
      unlink(path);
    }
    snprintf(path, sizeof path, "%s/" SHIMCTL_SOCKETS_DIR, dir); /* replica_sockets: unix */
    shimctl_remove_tree(path);
    shimctl_say("stack %s is down (%.1f s); logs kept in %s/logs", st->stack,
                (double)(shimctl_mono_ms() - t0) / 1000.0, dir);
  } else {
    shimctl_remove_tree(dir);
    shimctl_say("stack %s is down (%.1f s); %s removed", st->stack, (double)(shimctl_mono_ms() - t0) / 1000.0, dir);
  }
  rc = SHIMCTL_EXIT_OK;
out:
  free(st);
  shimctl_stack_free(stack);
  return rc;
}
