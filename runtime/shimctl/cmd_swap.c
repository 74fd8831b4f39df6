/*
 * cmd_swap.c - shimctl swap SERVICE --to IMPL: replace the implementation
 * behind a service while clients keep calling (issue 5 §5).
 *
 *   1. start the new set (weight 0), wait until every replica is SERVING,
 *      ApplySet it;
 *   2. stateless: SetWeights at once or by canary steps (new W, old 100-W);
 *      stateful: HoldService(on) -> the old set's outstanding calls reach 0
 *      -> Export (old replica 0) -> Import (new replica 0) -> SetWeights
 *      (new 100, old 0) -> HoldService(off): writes wait in the router
 *      during the copy, none is failed and none is lost;
 *   3. wait until the old set has no outstanding call, RemoveSet it, and
 *      the supervisor stops its replicas (SIGTERM: drain).
 * A failure before traffic moved removes the new set again; the old one
 * keeps serving. An admin change whose answer did not come (DEADLINE_EXCEEDED,
 * UNAVAILABLE: admin.h's -2) may have been applied: the router's weights
 * are read back (ListSets) and the swap goes on from what it applied, so
 * that the router and the state file agree afterwards; when the router does
 * not answer either, both sets are left as an interrupted swap (running the
 * swap again finishes it).
 */
#define _XOPEN_SOURCE 700
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "copy.h"
#include "shimctl.h"
#include "sockets.h"
#include "supervise.h"

#define SWAP_MAX_STEPS 16
#define SWAP_HOLD_MARGIN_MS 10000

typedef struct swap_args {
  const char *service;
  const char *to;
  int steps[SWAP_MAX_STEPS];
  int n_steps;
  int step_ms;
  int port;
} swap_args;

static int add_set(shimctl_state *st, void *arg) {
  shimctl_set *set = arg;
  if (st->n_sets == SHIMCTL_MAX_SETS || shimctl_state_find_set(st, set->name) != NULL) {
    return -2;
  }
  st->sets[st->n_sets++] = *set;
  return 1;
}

typedef struct weight_arg {
  const char *name;
  int weight;
  bool retire;
} weight_arg;

static int set_weight(shimctl_state *st, void *arg) {
  weight_arg *w = arg;
  shimctl_set *set = shimctl_state_find_set(st, w->name);
  if (set == NULL) {
    return 0;
  }
  set->weight = w->weight;
  set->retiring = set->retiring || w->retire;
  return 1;
}

/*
 * The weights of new_name and old_name in the router (-1: not listed), asked
 * until it answers, at most timeout_ms. 0, or -1 when it did not answer.
 */
static int read_weights(shimctl_admin *router, const char *new_name, const char *old_name, int timeout_ms,
                        int *wn, int *wo) {
  int64_t deadline = shimctl_mono_ms() + timeout_ms;
  char err[512];
  for (;;) {
    Shimkit__Router__V1__ListSetsResponse *list = NULL;
    if (shimctl_admin_list(router, 3000, &list, err, sizeof err) == 0) {
      const Shimkit__Router__V1__SetStatus *n = shimctl_list_find(list, new_name);
      const Shimkit__Router__V1__SetStatus *o = shimctl_list_find(list, old_name);
      *wn = n != NULL && n->set != NULL ? (int)n->set->weight : -1;
      *wo = o != NULL && o->set != NULL ? (int)o->set->weight : -1;
      protobuf_c_message_free_unpacked(&list->base, NULL);
      return 0;
    }
    if (shimctl_mono_ms() > deadline) {
      fprintf(stderr, "shimctl swap: the router does not answer ListSets either: %s\n", err);
      return -1;
    }
    shimctl_sleep_ms(200);
  }
}

/*
 * SetWeights(service, new_name wn, old_name wo). When no answer came, the
 * router's weights are read back: it applied them or not. 0 applied; -1 not
 * applied (the router's weights are what they were); -2 unknown (the router
 * answers nothing). Errors printed.
 */
static int change_weights(shimctl_admin *router, const char *service, const char *new_name, int wn,
                          const char *old_name, int wo, int timeout_ms) {
  char err[512];
  int rc = shimctl_admin_weights(router, service, new_name, wn, old_name, wo, err, sizeof err);
  if (rc == 0) {
    return 0;
  }
  fprintf(stderr, "shimctl swap: %s\n", err);
  if (rc != -2) {
    return -1;
  }
  int an = 0, ao = 0;
  if (read_weights(router, new_name, old_name, timeout_ms, &an, &ao) != 0) {
    return -2;
  }
  bool applied = an == wn && (ao == wo || (ao == -1 && wo == 0));
  fprintf(stderr, "shimctl swap: the router %s it (weights now: %s %d, %s %d)\n",
          applied ? "applied" : "did not apply", new_name, an, old_name, ao);
  return applied ? 0 : -1;
}

/* The router's state is unknown: leave both sets as an interrupted swap. */
static void leave_unknown(const char *service, const char *to) {
  fprintf(stderr, "shimctl swap: the router's weights are unknown; both sets are left running as an interrupted "
          "swap: run it again (shimctl swap %s --to %s) once the router answers\n", service, to);
}

/* Takes the new set out again: router, then its replicas. */
static void rollback(const shimctl_opts *o, const char *dir, shimctl_admin *router, const shimctl_set *set,
                     bool applied) {
  char err[512];
  fprintf(stderr, "shimctl swap: removing %s again; the old set keeps serving\n", set->name);
  int rc = applied ? shimctl_admin_remove(router, set->name, err, sizeof err) : 0;
  if (rc != 0) {
    fprintf(stderr, "shimctl swap: %s\n", err);
  }
  int wn = 0, wo = 0;
  if (rc == -2 && read_weights(router, set->name, "", o->timeout_ms, &wn, &wo) == 0 && wn != -1 &&
      shimctl_admin_remove(router, set->name, err, sizeof err) != 0) {
    fprintf(stderr, "shimctl swap: %s (%s stays in the router with weight %d)\n", err, set->name, wn);
  }
  weight_arg w = {set->name, 0, true};
  shimctl_state_update(dir, set_weight, &w);
  shimctl_supervisor_signal(dir, SIGHUP);
  shimctl_wait_stopped(dir, set->name, -1, set->drain_grace_ms + o->timeout_ms);
}

/* Polls ListSets until set_name has no outstanding call. 0, or -1 after timeout_ms. */
static int wait_idle(shimctl_admin *router, const char *set_name, int timeout_ms) {
  int64_t deadline = shimctl_mono_ms() + timeout_ms;
  char err[512];
  for (;;) {
    Shimkit__Router__V1__ListSetsResponse *list = NULL;
    int rc = shimctl_admin_list(router, 3000, &list, err, sizeof err);
    int n = rc == 0 ? shimctl_list_outstanding(list, set_name) : -2;
    if (list != NULL) {
      protobuf_c_message_free_unpacked(&list->base, NULL);
    }
    if (n == 0 || n == -1) {
      return 0;
    }
    if (shimctl_mono_ms() > deadline) {
      fprintf(stderr, "shimctl swap: %s still has %d call%s running after %d ms%s%s\n", set_name, n,
              n == 1 ? "" : "s", timeout_ms, rc != 0 ? ": " : "", rc != 0 ? err : "");
      return -1;
    }
    shimctl_sleep_ms(20);
  }
}

/* The address ("127.0.0.1:PORT" or "unix:PATH") of the first wanted replica
 * of set that answers SERVING. 0, or -1 leaving addr "". */
static int serving_replica(const shimctl_set *set, char *addr, size_t len) {
  addr[0] = '\0';
  for (int i = 0; set != NULL && i < set->n_rep; i++) {
    char a[SHIMCTL_ADDR];
    shimctl_replica_addr(&set->rep[i], a, sizeof a);
    if (set->rep[i].index < set->replicas && shimctl_health_serving(a, 2000)) {
      snprintf(addr, len, "%s", a);
      return 0;
    }
  }
  return -1;
}

/* True when the router sends every call of the service to new_name: it has
 * weight 100 and old_name 0 (or is gone). */
static bool traffic_moved(shimctl_admin *router, const char *new_name, const char *old_name) {
  Shimkit__Router__V1__ListSetsResponse *list = NULL;
  char err[512];
  bool moved = false;
  if (shimctl_admin_list(router, 3000, &list, err, sizeof err) == 0) {
    const Shimkit__Router__V1__SetStatus *n = shimctl_list_find(list, new_name);
    const Shimkit__Router__V1__SetStatus *o = shimctl_list_find(list, old_name);
    moved = n != NULL && n->set != NULL && n->set->weight == 100 && (o == NULL || (o->set != NULL && o->set->weight == 0));
  }
  if (list != NULL) {
    protobuf_c_message_free_unpacked(&list->base, NULL);
  }
  return moved;
}

static int parse_args(int argc, char **argv, swap_args *a) {
  memset(a, 0, sizeof *a);
  a->step_ms = 1000;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--to") == 0 && i + 1 < argc) {
      a->to = argv[++i];
    } else if (strcmp(argv[i], "--canary") == 0 && i + 1 < argc) {
      char *list = argv[++i];
      char *save = NULL;
      int last = 0;
      for (char *tok = strtok_r(list, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *end = NULL;
        long w = strtol(tok, &end, 10);
        if (*end != '\0' || w < 1 || w > 100 || w <= last || a->n_steps == SWAP_MAX_STEPS) {
          fprintf(stderr, "shimctl swap: --canary wants rising percentages 1..100, e.g. 10,50,100\n");
          return -1;
        }
        a->steps[a->n_steps++] = (int)w;
        last = (int)w;
      }
      if (a->n_steps == 0 || last != 100) {
        a->steps[a->n_steps++] = 100;
      }
    } else if (strcmp(argv[i], "--step-ms") == 0 && i + 1 < argc) {
      a->step_ms = atoi(argv[++i]);
      if (a->step_ms < 0) {
        fprintf(stderr, "shimctl swap: --step-ms wants milliseconds >= 0\n");
        return -1;
      }
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      a->port = atoi(argv[++i]);
      if (a->port < 1 || a->port > 65535) {
        fprintf(stderr, "shimctl swap: --port wants 1..65535\n");
        return -1;
      }
    } else if (a->service == NULL && argv[i][0] != '-') {
      a->service = argv[i];
    } else {
      fprintf(stderr, "shimctl swap: unexpected argument '%s' (try shimctl swap --help)\n", argv[i]);
      return -1;
    }
  }
  if (a->service == NULL || a->to == NULL) {
    fprintf(stderr, "shimctl swap: give SERVICE --to IMPL (try shimctl swap --help)\n");
    return -1;
  }
  if (a->n_steps == 0) {
    a->steps[a->n_steps++] = 100;
  }
  return 0;
}

int shimctl_cmd_swap(const shimctl_opts *o, int argc, char **argv) {
  swap_args a;
  if (parse_args(argc, argv, &a) != 0) {
    return SHIMCTL_EXIT_USAGE;
  }
  shimctl_stack *stack = NULL;
  shimctl_state *st = NULL;
  shimctl_set *nset = calloc(1, sizeof *nset);
  shimctl_admin *router = NULL;
  char dir[SHIMCTL_PATH], err[512];
  int rc = shimctl_load_locked(o, "swap", &stack, &st, dir, sizeof dir);
  if (rc != SHIMCTL_EXIT_OK) {
    goto out;
  }
  rc = SHIMCTL_EXIT_FAIL;
  if (nset == NULL) {
    goto out;
  }
  shimctl_service_spec *spec = shimctl_stack_service(stack, a.service);
  const shimctl_kind *kind = shimctl_kind_find(a.service);
  if (spec == NULL || kind == NULL) {
    fprintf(stderr, "shimctl swap: stack %s has no service %s\n", stack->name, a.service);
    goto out;
  }
  if (!shimctl_kind_has_impl(kind, a.to)) {
    char list[128];
    shimctl_kind_impl_list(kind, list, sizeof list);
    fprintf(stderr, "shimctl swap: unknown implementation '%s' of %s (valid: %s)\n", a.to, kind->name, list);
    rc = SHIMCTL_EXIT_USAGE;
    goto out;
  }
  /* The running set, and (when an earlier swap to the same implementation
   * was interrupted) the set it had started: the swap then goes on with it. */
  shimctl_set *old = NULL, *again = NULL;
  for (int i = 0; i < st->n_sets; i++) {
    shimctl_set *s = &st->sets[i];
    if (s->retiring || strcmp(s->kind, a.service) != 0) {
      continue;
    }
    if (strcmp(s->impl, a.to) == 0 && again == NULL) {
      again = s;
    } else if (old == NULL) {
      old = s;
    } else {
      fprintf(stderr, "shimctl swap: %s has sets %s and %s: an earlier swap to %s did not finish; run it again "
              "(shimctl swap %s --to %s) to finish it\n", a.service, old->name, s->name,
              strcmp(s->impl, old->impl) != 0 ? s->impl : "it", a.service, s->impl);
      goto out;
    }
  }
  if (old == NULL && again != NULL) {
    fprintf(stderr, "shimctl swap: %s already runs %s (set %s)\n", a.service, a.to, again->name);
    goto out;
  }
  if (old == NULL) {
    fprintf(stderr, "shimctl swap: stack %s runs no set of %s\n", stack->name, a.service);
    goto out;
  }
  if (kind->stateful && !shimctl_copy_supported(kind)) {
    fprintf(stderr, "shimctl swap: %s is stateful but has no Export/Import\n", a.service);
    goto out;
  }
  if (shimctl_supervisor_pid(dir) <= 0) {
    fprintf(stderr, "shimctl swap: the supervisor of stack %s is not running (shimctl up starts it)\n", st->stack);
    goto out;
  }
  if (a.port != 0 && st->replica_sockets == SHIMCTL_SOCKETS_UNIX) {
    fprintf(stderr, "shimctl swap: --port has no meaning with replica_sockets: unix (each replica listens on a "
                    "unix socket in the state folder)\n");
    rc = SHIMCTL_EXIT_USAGE;
    goto out;
  }
  router = shimctl_admin_open(st->router_listen);
  if (again != NULL) {
    *nset = *again;
  } else {
    shimctl_service_spec s2 = *spec;
    s2.replicas = old->replicas;
    if (shimctl_make_set(o, stack, st, &s2, a.to, a.port, 0, nset, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl swap: %s\n", err);
      goto out;
    }
    /* Same routing as the running set (the stack file may have changed since up). */
    nset->policy = old->policy;
    snprintf(nset->hash_field, sizeof nset->hash_field, "%s", old->hash_field);
    snprintf(nset->hash_key, sizeof nset->hash_key, "%s", old->hash_key);
  }
  char old_name[SHIMCTL_STR], old_addr[SHIMCTL_ADDR], new_addr[SHIMCTL_ADDR];
  snprintf(old_name, sizeof old_name, "%s", old->name);
  shimctl_replica_addr(&old->rep[0], old_addr, sizeof old_addr);
  shimctl_replica_addr(&nset->rep[0], new_addr, sizeof new_addr);
  int old_drain = old->drain_grace_ms;

  int64_t t0 = shimctl_mono_ms();
  shimctl_say("swap %s: %s -> %s (%s)", a.service, old->impl, a.to,
              kind->stateful ? "stateful: calls held, state copied with Export/Import" : "stateless");
  if (again != NULL) {
    shimctl_say("%s is there already (an earlier swap did not finish): going on with it", nset->name);
  } else if (shimctl_state_update(dir, add_set, nset) < 0) {
    fprintf(stderr, "shimctl swap: cannot add %s to the state\n", nset->name);
    goto out;
  }
  shimctl_supervisor_signal(dir, SIGHUP);
  char addrs[SHIMCTL_MAX_REPLICAS][SHIMCTL_ADDR];
  const char *ptrs[SHIMCTL_MAX_REPLICAS];
  int n = shimctl_set_addrs(nset, addrs, ptrs);
  shimctl_say("%s: starting %d replica%s", nset->name, n, n == 1 ? "" : "s");
  if (shimctl_wait_set_serving(dir, nset->name, o->timeout_ms) != 0) {
    rollback(o, dir, router, nset, false);
    goto out;
  }
  int64_t t_move = shimctl_mono_ms();
  int64_t hold_ms = 0;
  if (again != NULL && traffic_moved(router, nset->name, old_name)) {
    shimctl_say("all traffic is on %s already", nset->name);
    goto finish;
  }
  if (shimctl_admin_apply(router, nset, 0, err, sizeof err) != 0) {
    fprintf(stderr, "shimctl swap: %s\n", err);
    rollback(o, dir, router, nset, true);
    goto out;
  }
  if (shimctl_wait_routed(router, nset->name, n, o->timeout_ms) != 0) {
    rollback(o, dir, router, nset, true);
    goto out;
  }
  shimctl_say("%s: in the router with weight 0, every replica SERVING", nset->name);
  t_move = shimctl_mono_ms();
  if (kind->stateful) {
    if (a.n_steps > 1) {
      shimctl_say("--canary does not apply to a stateful service: its data moves once, then all its traffic");
    }
    /* The hold must outlast the wait for idle plus the copy (both bounded by
     * --timeout): a hold the router ended by itself would let writes reach
     * the old store after the copy. */
    int hold_timeout = 2 * o->timeout_ms + SWAP_HOLD_MARGIN_MS;
    int hrc = shimctl_admin_hold(router, kind->service, true, hold_timeout, err, sizeof err);
    if (hrc != 0) {
      fprintf(stderr, "shimctl swap: %s\n", err);
      if (hrc == -2) { /* it may hold: release it (a release of nothing is harmless) */
        shimctl_admin_hold(router, kind->service, false, 0, err, sizeof err);
      }
      rollback(o, dir, router, nset, true);
      goto out;
    }
    shimctl_say("%s: new calls held in the router; waiting for %s's calls to finish", kind->service, old_name);
    long records = 0;
    bool ok = wait_idle(router, old_name, o->timeout_ms) == 0;
    /* From a replica of each set that answers SERVING (one may be restarting). */
    if (ok && (serving_replica(old, old_addr, sizeof old_addr) != 0 ||
               serving_replica(nset, new_addr, sizeof new_addr) != 0)) {
      fprintf(stderr, "shimctl swap: no SERVING replica to copy %s\n", old_addr[0] ? "into" : "from");
      ok = false;
    }
    if (ok) {
      ok = shimctl_copy_state(kind, old_addr, new_addr, o->timeout_ms, &records, err, sizeof err) == 0;
      if (!ok) {
        fprintf(stderr, "shimctl swap: copy failed: %s\n", err);
      } else {
        shimctl_say("state copied: %ld records, %s -> %s", records, old_addr, new_addr);
      }
    }
    /* Weights not sure (-2): the copy is complete, so whatever the router
     * applied is consistent; only the state file must follow it. */
    int wrc = ok ? change_weights(router, kind->service, nset->name, 100, old_name, 0, o->timeout_ms) : -1;
    if (shimctl_admin_hold(router, kind->service, false, 0, err, sizeof err) != 0) {
      fprintf(stderr, "shimctl swap: %s (the hold ends by itself after %d s)\n", err, hold_timeout / 1000);
    }
    hold_ms = shimctl_mono_ms() - t_move;
    if (wrc == -2) {
      leave_unknown(a.service, a.to);
      goto out;
    }
    if (wrc != 0) {
      rollback(o, dir, router, nset, true);
      goto out;
    }
    shimctl_say("%s: all traffic on %s; hold released after %lld ms", kind->service, nset->name,
                (long long)hold_ms);
  } else {
    for (int i = 0; i < a.n_steps; i++) {
      int w = a.steps[i];
      if (change_weights(router, kind->service, nset->name, w, old_name, 100 - w, o->timeout_ms) != 0) {
        /* Back to the old set, read back too: a set removed while it has weight would leave the old one
         * at the weight of this step in the router while the state says 100. */
        if (change_weights(router, kind->service, nset->name, 0, old_name, 100, o->timeout_ms) != 0) {
          leave_unknown(a.service, a.to);
          goto out;
        }
        rollback(o, dir, router, nset, true);
        goto out;
      }
      shimctl_say("weights: %s %d, %s %d", nset->name, w, old_name, 100 - w);
      if (i + 1 < a.n_steps && a.step_ms > 0) {
        shimctl_sleep_ms(a.step_ms);
      }
    }
  }
finish:;
  int64_t move_ms = shimctl_mono_ms() - t_move;
  weight_arg wn = {nset->name, 100, false};
  weight_arg wo = {old_name, 0, false};
  shimctl_state_update(dir, set_weight, &wn);
  shimctl_state_update(dir, set_weight, &wo);
  shimctl_say("%s: waiting for its last calls", old_name);
  if (wait_idle(router, old_name, old_drain + o->timeout_ms) != 0) {
    fprintf(stderr, "shimctl swap: removing %s anyway (its replicas drain on SIGTERM)\n", old_name);
  }
  if (shimctl_admin_remove(router, old_name, err, sizeof err) != 0) {
    fprintf(stderr, "shimctl swap: %s\n", err);
  }
  weight_arg wr = {old_name, 0, true};
  shimctl_state_update(dir, set_weight, &wr);
  shimctl_supervisor_signal(dir, SIGHUP);
  shimctl_say("%s: removed from the router; stopping its replicas", old_name);
  if (shimctl_wait_stopped(dir, old_name, -1, old_drain + o->timeout_ms) != 0) {
    fprintf(stderr, "shimctl swap: %s's replicas did not stop in time (the supervisor keeps trying)\n", old_name);
  }
  shimctl_say("swapped %s to %s in %.1f s (traffic moved in %lld ms%s)", a.service, a.to,
              (double)(shimctl_mono_ms() - t0) / 1000.0, (long long)move_ms,
              kind->stateful ? ", calls held during the copy" : "");
  rc = SHIMCTL_EXIT_OK;
out:
  shimctl_admin_close(router);
  free(nset);
  free(st);
  shimctl_stack_free(stack);
  return rc;
}
