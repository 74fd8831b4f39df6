/*
 * cmd_up.c - shimctl up: validate the stack file, write the state, start
 * the supervisor (which starts the router and the replicas), wait until
 * everything is SERVING, give the router its sets, print its address.
 * Run again on a stack whose supervisor died, it starts a supervisor from
 * the state (replicas still running are adopted, not started twice). Run
 * again on a running stack, it applies the file's changes
 * (cmd_up_apply.c).
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin.h"
#include "env.h"
#include "shim_path.h"
#include "shimctl.h"
#include "supervise.h"

/* Builds the state of a stack that is not up yet. 0 or -1 (reason printed). */
static int initial_state(const shimctl_opts *o, const shimctl_stack *stack, shimctl_state *st) {
  memset(st, 0, sizeof *st);
  snprintf(st->stack, sizeof st->stack, "%s", stack->name);
  snprintf(st->environment, sizeof st->environment, "%s", stack->environment);
  snprintf(st->base_dir, sizeof st->base_dir, "%s", stack->dir);
  char *abs = realpath(stack->path, NULL);
  snprintf(st->stack_file, sizeof st->stack_file, "%s", abs != NULL ? abs : stack->path);
  free(abs);
  if (shimctl_find_program(o->bin_dir, "shimkit_router", "runtime/router", st->router_program,
                           sizeof st->router_program) != 0) {
    fprintf(stderr, "shimctl: cannot find the program shimkit_router (give --bin-dir DIR or set SHIMCTL_BIN_DIR)\n");
    return -1;
  }
  snprintf(st->router_listen, sizeof st->router_listen, "%s", stack->router_listen);
  snprintf(st->router_metrics, sizeof st->router_metrics, "%s",
           stack->router_metrics != NULL ? stack->router_metrics : "");
  st->replica_sockets = stack->replica_sockets;
  int ports[2] = {shimctl_addr_port(st->router_listen),
                  st->router_metrics[0] != '\0' ? shimctl_addr_port(st->router_metrics) : 0};
  for (int i = 0; i < 2; i++) {
    if (ports[i] > 0 && !shimctl_port_free(ports[i])) {
      fprintf(stderr, "shimctl: router %s port %d is in use\n", i == 0 ? "listen" : "metrics_listen", ports[i]);
      return -1;
    }
  }
  for (size_t i = 0; i < stack->n_services; i++) {
    const shimctl_service_spec *svc = &stack->services[i];
    char err[512];
    shimctl_set *set = &st->sets[st->n_sets];
    if (shimctl_make_set(o, stack, st, svc, svc->implementation, svc->port, 100, set, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl: %s\n", err);
      return -1;
    }
    st->n_sets++;
  }
  return 0;
}

/* Waits for the router and every set, then applies the sets. */
static int bring_up(const shimctl_opts *o, const char *dir, const char *router) {
  if (shimctl_wait_started(dir, NULL, true, o->timeout_ms) != 0) {
    fprintf(stderr, "shimctl: the supervisor did not start the router; see %s/supervisor.log\n", dir);
    return -1;
  }
  const char *raddr[1] = {router};
  if (shimctl_wait_serving("router", raddr, 1, o->timeout_ms) != 0) {
    fprintf(stderr, "shimctl: see shimctl logs router\n");
    return -1;
  }
  shimctl_admin *admin = shimctl_admin_open(router);
  shimctl_state *st = shimctl_state_new();
  int fd = shimctl_state_lock(dir);
  int r = st != NULL && fd >= 0 ? shimctl_state_read(dir, st) : -1;
  shimctl_state_unlock(fd);
  int rc = r == 0 ? 0 : -1;
  for (int i = 0; rc == 0 && i < st->n_sets; i++) {
    const shimctl_set *set = &st->sets[i];
    if (set->retiring) {
      continue;
    }
    char addrs[SHIMCTL_MAX_REPLICAS][SHIMCTL_ADDR];
    const char *ptrs[SHIMCTL_MAX_REPLICAS];
    int n = shimctl_set_addrs(set, addrs, ptrs);
    shimctl_say("%s: starting %d replica%s of %s", set->name, n, n == 1 ? "" : "s", set->program);
    if (shimctl_wait_set_serving(dir, set->name, o->timeout_ms) != 0) {
      fprintf(stderr, "shimctl: %s did not come up; see shimctl logs %s (shimctl down stops the stack)\n",
              set->name, set->kind);
      rc = -1;
      break;
    }
  }
  for (int i = 0; rc == 0 && i < st->n_sets; i++) {
    const shimctl_set *set = &st->sets[i];
    if (set->retiring) {
      continue;
    }
    char err[512];
    if (shimctl_admin_apply(admin, set, set->weight, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl: router %s: %s\n", router, err);
      rc = -1;
      break;
    }
    char addrs[SHIMCTL_MAX_REPLICAS][SHIMCTL_ADDR];
    const char *ptrs[SHIMCTL_MAX_REPLICAS];
    if (shimctl_wait_routed(admin, set->name, shimctl_set_addrs(set, addrs, ptrs), o->timeout_ms) != 0) {
      rc = -1;
      break;
    }
    shimctl_say("%s: routed (%s, weight %d)", set->name, shimctl_policy_name((shimctl_policy)set->policy),
                set->weight);
  }
  shimctl_admin_close(admin);
  free(st);
  return rc;
}

int shimctl_cmd_up(const shimctl_opts *o, int argc, char **argv) {
  if (argc > 1) {
    fprintf(stderr, "shimctl up: unexpected argument '%s' (try shimctl up --help)\n", argv[1]);
    return SHIMCTL_EXIT_USAGE;
  }
  shimctl_stack *stack = shimctl_load_stack(o);
  if (stack == NULL) {
    return SHIMCTL_EXIT_USAGE;
  }
  int rc = SHIMCTL_EXIT_FAIL;
  shimctl_state *st = shimctl_state_new();
  char dir[SHIMCTL_PATH], logs[SHIMCTL_PATH + 8];
  shimctl_state_dir(stack, dir, sizeof dir);
  snprintf(logs, sizeof logs, "%s/logs", dir);
  if (strcmp(stack->environment, "kubernetes") == 0) {
    rc = shimctl_up_kubernetes(o, stack); /* manifests + kubectl: no supervisor */
    goto out;
  }
  if (shimctl_env_find(stack->environment) == NULL) {
    fprintf(stderr, "shimctl: environment %s: %s\n", stack->environment, shimctl_env_missing(stack->environment));
    goto out;
  }
  struct stat sb;
  bool fresh_dir = stat(dir, &sb) != 0; /* made by this up: removed again if it starts nothing */
  if (st == NULL || shim_mkdir_p(logs) != 0) {
    fprintf(stderr, "shimctl: cannot create %s: %s\n", logs, strerror(errno));
    goto out;
  }
  if (shimctl_command_lock(dir, "up") != 0) {
    goto out;
  }
  int64_t t0 = shimctl_mono_ms();
  int fd = shimctl_state_lock(dir);
  int r = fd >= 0 ? shimctl_state_read(dir, st) : -1;
  if (r < 0) {
    shimctl_state_unlock(fd);
    goto out;
  }
  pid_t sup = shimctl_supervisor_pid(dir);
  if (r == 0 && st->stack[0] != '\0') {
    shimctl_state_unlock(fd);
    if (sup != 0) {
      shimctl_say("stack %s is already up (supervisor pid %d): applying the file's changes", stack->name, (int)sup);
      rc = shimctl_up_apply(o, stack, st);
      goto out;
    }
    shimctl_say("stack %s has a state but no supervisor: starting one (running replicas are kept)", stack->name);
  } else {
    if (sup != 0) {
      shimctl_state_unlock(fd);
      fprintf(stderr, "shimctl: a supervisor (pid %d) runs for %s without a state; stop it first\n", (int)sup, dir);
      goto out;
    }
    if (initial_state(o, stack, st) != 0 || shimctl_state_write(dir, st) != 0) {
      shimctl_state_unlock(fd);
      if (fresh_dir) {
        shimctl_remove_tree(dir); /* no lock files or empty logs/ left: down has nothing to find */
      }
      fprintf(stderr, "shimctl: nothing was started\n");
      goto out;
    }
    shimctl_state_unlock(fd);
    shimctl_say("stack %s: state in %s", stack->name, dir);
  }
  pid_t pid = shimctl_supervisor_spawn(dir);
  if (pid < 0) {
    goto out;
  }
  shimctl_say("supervisor running (pid %d, environment %s)", (int)pid, st->environment);
  shimctl_say("router: starting on %s", st->router_listen);
  if (bring_up(o, dir, st->router_listen) != 0) {
    goto out;
  }
  shimctl_say("stack %s is up in %.1f s: clients call %s", stack->name, (double)(shimctl_mono_ms() - t0) / 1000.0,
              st->router_listen);
  rc = SHIMCTL_EXIT_OK;
out:
  free(st);
  shimctl_stack_free(stack);
  return rc;
}
