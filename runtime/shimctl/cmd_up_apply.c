/*
 * cmd_up_apply.c - shimctl up on a stack that is already up: the stack file
 * was edited, and what changed is applied to the running stack, as an
 * operator expects of a declarative file.
 *
 * Per service of the file, against its serving set in the state:
 *   - another implementation: shimctl swap SERVICE --to IMPL (the swap's
 *     rules apply: no failed call, state copied for stateful services);
 *   - another replica count: shimctl scale SERVICE N;
 *   - same implementation and count: nothing.
 * What up cannot change on a running stack is said and left alone, with a
 * non-zero exit: a service added to or removed from the file, a service in
 * the middle of a swap, the router's address, the environment, where the
 * replicas listen (replica_sockets). Other
 * per-service settings (config flags, policy, ports) take effect with the
 * next swap of that service, or after down and up.
 */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <string.h>

#include "shimctl.h"

/* The serving sets of kind in st (not retiring): how many, and the first. */
static int serving_sets(const shimctl_state *st, const char *kind, const shimctl_set **first) {
  int n = 0;
  *first = NULL;
  for (int i = 0; i < st->n_sets; i++) {
    const shimctl_set *s = &st->sets[i];
    if (!s->retiring && strcmp(s->kind, kind) == 0) {
      if (n++ == 0) {
        *first = s;
      }
    }
  }
  return n;
}

static bool in_file(const shimctl_stack *stack, const char *kind) {
  for (size_t i = 0; i < stack->n_services; i++) {
    if (strcmp(stack->services[i].kind->name, kind) == 0) {
      return true;
    }
  }
  return false;
}

/* Runs another command of this program (it takes the same command lock: this process holds it). */
static int run_command(const shimctl_opts *o, shimctl_cmd_fn fn, char **argv) {
  int argc = 0;
  while (argv[argc] != NULL) {
    argc++;
  }
  return fn(o, argc, argv);
}

int shimctl_up_apply(const shimctl_opts *o, const shimctl_stack *stack, const shimctl_state *st) {
  int rc = SHIMCTL_EXIT_OK;
  int changes = 0;
  if (strcmp(stack->environment, st->environment) != 0 || strcmp(stack->router_listen, st->router_listen) != 0) {
    fprintf(stderr,
            "shimctl up: the stack runs in environment %s with its router on %s; the file says %s and %s: "
            "that needs shimctl down, then up\n",
            st->environment, st->router_listen, stack->environment, stack->router_listen);
    return SHIMCTL_EXIT_FAIL;
  }
  if (stack->replica_sockets != st->replica_sockets) {
    fprintf(stderr, "shimctl up: the stack's replicas listen on %s; the file says replica_sockets: %s: that needs "
                    "shimctl down, then up\n",
            st->replica_sockets == SHIMCTL_SOCKETS_UNIX ? "unix sockets" : "loopback ports",
            shimctl_sockets_name(stack->replica_sockets));
    return SHIMCTL_EXIT_FAIL;
  }
  for (size_t i = 0; i < stack->n_services; i++) {
    const shimctl_service_spec *svc = &stack->services[i];
    const char *kind = svc->kind->name;
    const shimctl_set *set = NULL;
    int n = serving_sets(st, kind, &set);
    if (n == 0) {
      fprintf(stderr, "shimctl up: service %s is not in the running stack: adding a service needs shimctl down, "
                      "then up\n", kind);
      rc = SHIMCTL_EXIT_FAIL;
      continue;
    }
    if (n > 1) {
      fprintf(stderr, "shimctl up: service %s has %d sets (a swap is in progress or was interrupted): finish it "
                      "with shimctl swap first\n", kind, n);
      rc = SHIMCTL_EXIT_FAIL;
      continue;
    }
    int step = SHIMCTL_EXIT_OK;
    if (strcmp(set->impl, svc->implementation) != 0) {
      shimctl_say("%s: implementation %s -> %s (shimctl swap)", kind, set->impl, svc->implementation);
      char *argv[] = {"swap", (char *)kind, "--to", svc->implementation, NULL};
      step = run_command(o, shimctl_cmd_swap, argv);
      changes++;
      /* The swap starts as many replicas as the old set had: scale after it if the count changed too. */
    }
    if (step == SHIMCTL_EXIT_OK && set->replicas != svc->replicas) {
      char count[16];
      snprintf(count, sizeof count, "%d", svc->replicas);
      shimctl_say("%s: replicas %d -> %d (shimctl scale)", kind, set->replicas, svc->replicas);
      char *argv[] = {"scale", (char *)kind, count, NULL};
      step = run_command(o, shimctl_cmd_scale, argv);
      changes++;
    }
    if (step != SHIMCTL_EXIT_OK) {
      fprintf(stderr, "shimctl up: applying the change of %s failed (see above); the other services are still "
                      "looked at\n", kind);
      rc = SHIMCTL_EXIT_FAIL;
    }
  }
  for (int i = 0; i < st->n_sets; i++) {
    const shimctl_set *s = &st->sets[i];
    if (!s->retiring && !in_file(stack, s->kind)) {
      fprintf(stderr, "shimctl up: set %s runs but its service %s is no longer in the file: removing a service "
                      "needs shimctl down, then up\n", s->name, s->kind);
      rc = SHIMCTL_EXIT_FAIL;
    }
  }
  if (changes == 0 && rc == SHIMCTL_EXIT_OK) {
    shimctl_say("stack %s is up and matches %s: nothing to change (router %s)", stack->name, stack->path,
                st->router_listen);
  } else if (rc == SHIMCTL_EXIT_OK) {
    shimctl_say("stack %s is up with the file's changes applied: clients call %s", stack->name, st->router_listen);
  }
  return rc;
}
