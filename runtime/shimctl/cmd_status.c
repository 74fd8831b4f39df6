/*
 * cmd_status.c - shimctl status: the stack as the state file and the
 * router see it. Per set: implementation, weight, policy, replicas wanted
 * and running; per replica: address ("127.0.0.1:PORT", or "unix:PATH" with
 * replica_sockets: unix), id (pid), alive, restarts and, from
 * the router's ListSets, serving, outstanding, calls, failures.
 */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "env.h"
#include "shimctl.h"
#include "sockets.h"
#include "supervise.h"

static const Shimkit__Router__V1__BackendStatus *find_backend(const Shimkit__Router__V1__SetStatus *s,
                                                              const char *addr) {
  for (size_t i = 0; s != NULL && i < s->n_backends; i++) {
    if (s->backends[i]->address != NULL && strcmp(s->backends[i]->address, addr) == 0) {
      return s->backends[i];
    }
  }
  return NULL;
}

int shimctl_cmd_status(const shimctl_opts *o, int argc, char **argv) {
  if (argc > 1) {
    fprintf(stderr, "shimctl status: unexpected argument '%s' (try shimctl status --help)\n", argv[1]);
    return SHIMCTL_EXIT_USAGE;
  }
  shimctl_stack *stack = NULL;
  shimctl_state *st = NULL;
  char dir[SHIMCTL_PATH];
  int lr = shimctl_load(o, &stack, &st, dir, sizeof dir);
  if (lr != 0) {
    free(st);
    shimctl_stack_free(stack);
    return lr == 1 ? SHIMCTL_EXIT_FAIL : SHIMCTL_EXIT_USAGE;
  }
  const shimctl_env *env = shimctl_env_find(st->environment);
  pid_t sup = shimctl_supervisor_pid(dir);
  printf("stack %s (environment %s, state %s)\n", st->stack, st->environment, dir);
  if (sup > 0) {
    printf("supervisor: pid %d\n", (int)sup);
  } else {
    printf("supervisor: NOT RUNNING (shimctl up starts it again)\n");
  }
  Shimkit__Router__V1__ListSetsResponse *list = NULL;
  char err[512] = "";
  shimctl_admin *router = shimctl_admin_open(st->router_listen);
  int lrc = shimctl_admin_list(router, 3000, &list, err, sizeof err);
  shimctl_admin_close(router);
  int router_alive = st->router_id[0] != '\0' ? shimctl_env_process.alive(st->router_id) : 0;
  printf("router: %s  id %s  %s  restarts %d%s%s\n", st->router_listen, st->router_id[0] ? st->router_id : "-",
         router_alive == 1 ? "running" : "not running", st->router_restarts, lrc == 0 ? "" : "  admin: ",
         lrc == 0 ? "" : err);
  if (list != NULL && list->n_held_services > 0) {
    for (size_t i = 0; i < list->n_held_services; i++) {
      printf("  held: %s\n", list->held_services[i]);
    }
  }
  for (int i = 0; i < st->n_sets; i++) {
    const shimctl_set *set = &st->sets[i];
    const Shimkit__Router__V1__SetStatus *ls = shimctl_list_find(list, set->name);
    int running = 0;
    for (int r = 0; r < set->n_rep; r++) {
      running += set->rep[r].id[0] != '\0' && env != NULL && env->alive(set->rep[r].id) == 1;
    }
    printf("set %s  service %s  implementation %s  weight %d  policy %s  replicas %d/%d%s%s\n", set->name,
           set->kind, set->impl, ls != NULL && ls->set != NULL ? (int)ls->set->weight : set->weight,
           shimctl_policy_name((shimctl_policy)set->policy), running, set->replicas,
           set->retiring ? "  RETIRING" : "", list != NULL && ls == NULL && !set->retiring ? "  NOT ROUTED" : "");
    for (int r = 0; r < set->n_rep; r++) {
      const shimctl_replica *rep = &set->rep[r];
      char addr[SHIMCTL_ADDR];
      shimctl_replica_addr(rep, addr, sizeof addr);
      int alive = rep->id[0] != '\0' && env != NULL ? env->alive(rep->id) : 0;
      const Shimkit__Router__V1__BackendStatus *b = find_backend(ls, addr);
      printf("  replica %d  %s  id %s  %s  restarts %d", rep->index, addr, rep->id[0] ? rep->id : "-",
             alive == 1 ? "running" : "not running", rep->restarts);
      if (b != NULL) {
        printf("  %s  outstanding %d  calls %lld  failures %lld", b->serving ? "SERVING" : "NOT_SERVING",
               (int)b->outstanding, (long long)b->calls, (long long)b->failures);
      }
      if (rep->last_exit[0] != '\0') {
        printf("  last exit: %s", rep->last_exit);
      }
      putchar('\n');
    }
  }
  /* Sets the router has that the state does not know (an operator's own). */
  for (size_t i = 0; list != NULL && i < list->n_sets; i++) {
    const char *name = list->sets[i]->set != NULL ? list->sets[i]->set->name : "";
    if (shimctl_state_find_set(st, name) == NULL) {
      printf("set %s  (in the router only)  weight %u  backends %zu\n", name,
             list->sets[i]->set != NULL ? list->sets[i]->set->weight : 0, list->sets[i]->n_backends);
    }
  }
  fflush(stdout);
  if (list != NULL) {
    protobuf_c_message_free_unpacked(&list->base, NULL);
  }
  free(st);
  shimctl_stack_free(stack);
  return SHIMCTL_EXIT_OK;
}
