/*
 * cmd_scale.c - shimctl scale SERVICE N: more replicas are started, become
 * SERVING, then join the set in the router; fewer: the router stops sending
 * to the last ones first, then the supervisor stops them (SIGTERM: they
 * finish the calls they have, then exit). In the kubernetes environment,
 * the service's Deployment is rendered again with N replicas and applied
 * (shimctl_scale_kubernetes, cmd_up_kubernetes.c).
 */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "shimctl.h"
#include "sockets.h"
#include "supervise.h"

typedef struct scale_arg {
  const char *dir; /* the stack's state folder: where replicas on unix sockets listen */
  char set[SHIMCTL_STR];
  int n;
  char err[SHIMCTL_STR + 64];
} scale_arg;

static bool port_used(const shimctl_state *st, int port) {
  int ports[SHIMCTL_MAX_SETS * SHIMCTL_MAX_REPLICAS + 2];
  int n = shimctl_state_ports(st, ports, SHIMCTL_MAX_SETS * SHIMCTL_MAX_REPLICAS + 2);
  for (int i = 0; i < n; i++) {
    if (ports[i] == port) {
      return true;
    }
  }
  return false;
}

/* Adds replica entries up to n (ports: the next after the set's first one
 * when free, else any free port; with replica_sockets unix, each its own
 * socket in the state folder) and sets the wanted count. */
static int grow(shimctl_state *st, void *arg) {
  scale_arg *a = arg;
  shimctl_set *set = shimctl_state_find_set(st, a->set);
  if (set == NULL) {
    snprintf(a->err, sizeof a->err, "set %s is gone", a->set);
    return -2;
  }
  for (int i = 0; i < a->n; i++) {
    if (shimctl_set_replica(set, i) != NULL) {
      continue;
    }
    if (set->n_rep == SHIMCTL_MAX_REPLICAS) {
      snprintf(a->err, sizeof a->err, "at most %d replicas", SHIMCTL_MAX_REPLICAS);
      return -2;
    }
    if (st->replica_sockets == SHIMCTL_SOCKETS_UNIX) {
      shimctl_replica *r = &set->rep[set->n_rep];
      memset(r, 0, sizeof *r);
      r->index = i;
      if (shimctl_socket_addr(a->dir, set->name, i, r->addr, sizeof r->addr) != 0) {
        snprintf(a->err, sizeof a->err, "the unix socket of replica %d does not fit in %d bytes (set a shorter "
                 "state_dir)", i, SHIMCTL_UNIX_PATH_MAX);
        return -2;
      }
      set->n_rep++;
      continue;
    }
    int port = set->n_rep > 0 ? set->rep[0].port + i : 0;
    if (port <= 0 || port > 65535 || port_used(st, port) || !shimctl_port_free(port)) {
      int used[SHIMCTL_MAX_SETS * SHIMCTL_MAX_REPLICAS + 2];
      int n_used = shimctl_state_ports(st, used, SHIMCTL_MAX_SETS * SHIMCTL_MAX_REPLICAS + 2);
      port = shimctl_pick_port(used, n_used);
    }
    if (port <= 0) {
      snprintf(a->err, sizeof a->err, "no free port for replica %d", i);
      return -2;
    }
    shimctl_replica *r = &set->rep[set->n_rep++];
    memset(r, 0, sizeof *r);
    r->index = i;
    r->port = port;
  }
  set->replicas = a->n;
  return 1;
}

static int set_count(shimctl_state *st, void *arg) {
  scale_arg *a = arg;
  shimctl_set *set = shimctl_state_find_set(st, a->set);
  if (set == NULL) {
    return -2;
  }
  set->replicas = a->n;
  return 1;
}

int shimctl_cmd_scale(const shimctl_opts *o, int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "shimctl scale: give SERVICE N (try shimctl scale --help)\n");
    return SHIMCTL_EXIT_USAGE;
  }
  char *end = NULL;
  long n = strtol(argv[2], &end, 10);
  if (end == argv[2] || *end != '\0' || n < 1 || n > SHIMCTL_MAX_REPLICAS) {
    fprintf(stderr, "shimctl scale: N must be a number 1..%d, not '%s'\n", SHIMCTL_MAX_REPLICAS, argv[2]);
    return SHIMCTL_EXIT_USAGE;
  }
  shimctl_stack *stack = shimctl_load_stack(o);
  if (stack == NULL) {
    return SHIMCTL_EXIT_USAGE;
  }
  if (strcmp(stack->environment, "kubernetes") == 0) {
    int krc = shimctl_scale_kubernetes(o, stack, argv[1], (int)n); /* kubectl: no supervisor, no state */
    shimctl_stack_free(stack);
    return krc;
  }
  shimctl_stack_free(stack);
  stack = NULL;
  shimctl_state *st = NULL;
  shimctl_admin *router = NULL;
  char dir[SHIMCTL_PATH];
  int rc = shimctl_load_locked(o, "scale", &stack, &st, dir, sizeof dir);
  if (rc != SHIMCTL_EXIT_OK) {
    goto out;
  }
  rc = SHIMCTL_EXIT_FAIL;
  shimctl_set *set = shimctl_state_active_set(st, argv[1]);
  if (set == NULL) {
    fprintf(stderr, "shimctl scale: stack %s has no service %s\n", st->stack, argv[1]);
    goto out;
  }
  if (shimctl_supervisor_pid(dir) <= 0) {
    fprintf(stderr, "shimctl scale: the supervisor of stack %s is not running (shimctl up starts it)\n", st->stack);
    goto out;
  }
  scale_arg a = {dir, "", (int)n, ""};
  snprintf(a.set, sizeof a.set, "%s", set->name);
  int from = set->replicas;
  char err[512];
  if (n == from) {
    shimctl_say("%s has %d replica%s already", set->name, from, from == 1 ? "" : "s");
    rc = SHIMCTL_EXIT_OK;
    goto out;
  }
  int64_t t0 = shimctl_mono_ms();
  router = shimctl_admin_open(st->router_listen);
  if (n > from) {
    if (shimctl_state_update(dir, grow, &a) < 0) {
      fprintf(stderr, "shimctl scale: %s\n", a.err[0] ? a.err : "cannot update the state");
      goto out;
    }
    shimctl_supervisor_signal(dir, SIGHUP);
    shimctl_say("%s: starting replicas %d..%ld", set->name, from, n - 1);
    if (shimctl_wait_started(dir, set->name, false, o->timeout_ms) != 0) {
      fprintf(stderr, "shimctl scale: the supervisor did not start them; see %s/supervisor.log\n", dir);
      goto out;
    }
    int fd = shimctl_state_lock(dir);
    shimctl_state_read(dir, st);
    shimctl_state_unlock(fd);
    set = shimctl_state_find_set(st, a.set);
    char addrs[SHIMCTL_MAX_REPLICAS][SHIMCTL_ADDR];
    const char *ptrs[SHIMCTL_MAX_REPLICAS];
    int na = set != NULL ? shimctl_set_addrs(set, addrs, ptrs) : 0;
    if (set == NULL || shimctl_wait_serving(set->name, ptrs, na, o->timeout_ms) != 0) {
      goto out;
    }
    if (shimctl_admin_apply(router, set, set->weight, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl scale: %s\n", err);
      goto out;
    }
    if (shimctl_wait_routed(router, set->name, na, o->timeout_ms) != 0) {
      goto out;
    }
  } else {
    /* The router first, so that no new call goes to a replica about to stop. */
    shimctl_set shrunk = *set;
    shrunk.replicas = (int)n;
    if (shimctl_admin_apply(router, &shrunk, set->weight, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl scale: %s\n", err);
      goto out;
    }
    if (shimctl_state_update(dir, set_count, &a) < 0) {
      fprintf(stderr, "shimctl scale: cannot update the state\n");
      goto out;
    }
    shimctl_supervisor_signal(dir, SIGHUP);
    shimctl_say("%s: stopping replicas %ld..%d (they drain first)", a.set, n, from - 1);
    if (shimctl_wait_stopped(dir, a.set, (int)n, set->drain_grace_ms + o->timeout_ms) != 0) {
      fprintf(stderr, "shimctl scale: replicas of %s did not stop in time\n", a.set);
      goto out;
    }
  }
  shimctl_say("%s: %ld replica%s (%.1f s)", a.set, n, n == 1 ? "" : "s", (double)(shimctl_mono_ms() - t0) / 1000.0);
  rc = SHIMCTL_EXIT_OK;
out:
  shimctl_admin_close(router);
  free(st);
  shimctl_stack_free(stack);
  return rc;
}
