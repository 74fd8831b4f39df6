/*
 * forward.c - where one forwarded call goes: the router's hooks for
 * libshimkit's forwarding (shimkit/forward.h), which moves the bytes.
 *
 * begin (on the worker that took the call): while the call's service is
 * held (hold.c) it asks libshimkit to park the call (plan.wait: no thread
 * waits; begin runs again when the hold is released or lapses, on the
 * thread that resumes it). Then it takes a reference to the current snapshot of the
 * sets for the call's whole life (so a set removed meanwhile, and its
 * replicas, stay valid until it ends) and chooses a set by weight. A set
 * that hashes on a request field asks for the first request message before
 * the pick.
 *
 * choose: the replica, by the set's policy (the hash key: a metadata value,
 * or the field of the first message, field_key.c). When the set has no
 * healthy replica left by then (an admin change removed or replaced it
 * since begin), the set is chosen again in the current snapshot.
 *
 * attempt_done: the attempt's replica is released (outstanding down, a
 * failure counted). A call that ended UNAVAILABLE with no headers, no
 * message and no trailers, with gRPC's message for a connect failure
 * (retry_rule.h), never reached a handler: it is sent again to another
 * replica of the set (libshimkit replays the kept request messages). A call
 * whose connection broke under it (a replica SIGKILLed while its handler
 * ran) fails UNAVAILABLE: it may have run, so it is not replayed. In a set
 * with retry_not_found, a call a replica answered NOT_FOUND with nothing
 * before it (no headers, no message) is asked of the next replica not yet
 * asked; the client gets NOT_FOUND when none is left.
 *
 * end: one log line per call (the router's access log; off with
 * --no-access-log).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "method_kind.h"
#include "retry_rule.h"
#include "router.h"

typedef struct fwd_state {
  router *r;
  router_config *cfg;                         /* the snapshot, referenced for the call's life */
  router_set *set;                            /* the set chosen */
  router_backend *tried[ROUTER_MAX_ASKED]; /* replicas tried, in order; the last is the current */
  int n_tried;
  const char *key; /* the hash key (metadata value or field_key), or NULL */
  size_t key_len;
  char *field_key;     /* field_key's, freed at the end */
  struct timespec ts0; /* arrival */
  uint64_t hold;       /* the hold the call waits on (router_hold_check), or 0 */
  bool waited;         /* a run of begin parked the call: end frees this */
} fwd_state;

/* A failed begin: the state goes unless an earlier run parked the call (then end frees it). */
static shimkit_code begin_failed(fwd_state *st, void **state, shimkit_code code) {
  if (!st->waited) {
    free(st);
    *state = NULL;
  }
  return code;
}

static shimkit_code fwd_begin(shimkit_call *call, void *user_data, void **state, shimkit_forward_plan *plan) {
  router *r = user_data;
  fwd_state *st = *state;
  if (st == NULL) { /* the first run; later ones resume a parked call */
    st = calloc(1, sizeof *st);
    if (st == NULL) {
      return shimkit_call_error(call, SHIMKIT_RESOURCE_EXHAUSTED, "router: out of memory");
    }
    st->r = r;
    clock_gettime(CLOCK_MONOTONIC, &st->ts0);
    *state = st;
  }
  if (st->hold != 0) {
    router_hold_leave(r, st->hold);
    st->hold = 0;
  }
  const char *method = shimkit_call_method(call);
  const char *service = method[0] == '/' ? method + 1 : method;
  const char *slash = strchr(service, '/');
  size_t service_len = slash != NULL ? (size_t)(slash - service) : strlen(service);
  st->hold = router_hold_check(r, service, service_len);
  if (st->hold != 0) {
    st->waited = true;
    plan->wait = true;
    return SHIMKIT_OK;
  }

  router_config *cfg = router_config_get(r);
  router_set *set = router_choose_set(cfg, service, service_len);
  if (set == NULL) {
    router_config_unref(cfg);
    return begin_failed(st, state,
                        shimkit_call_error(call, SHIMKIT_UNAVAILABLE, "router: no set serves %s", method));
  }
  st->cfg = cfg;
  st->set = set;
  if (set->spec.hash_key != NULL) {
    st->key = shimkit_call_metadata_get(call, set->spec.hash_key, &st->key_len);
  }
  plan->read_first = set->spec.hash_key == NULL && set->spec.hash_field != NULL;
  plan->unary = r->unary_plan && router_method_is_unary(r->kinds, method, set);
  *state = st;
  return SHIMKIT_OK;
}

static shimkit_code fwd_choose(shimkit_call *call, void *state, const uint8_t *first, size_t first_len,
                               shimkit_channel **channel) {
  fwd_state *st = state;
  const char *method = shimkit_call_method(call);
  if (first != NULL && st->set->spec.hash_field != NULL &&
      router_field_key(st->r, st->set, method, first, first_len, &st->field_key, &st->key_len) == 1) {
    st->key = st->field_key;
  }
  router_backend *b = router_pick(st->set, st->tried, 0, false, st->key, st->key_len);
  if (b == NULL) {
    /* The set lost its replicas since begin chose it (an admin change removed
     * or replaced it): choose again in the current snapshot. */
    const char *service = method[0] == '/' ? method + 1 : method;
    const char *slash = strchr(service, '/');
    size_t service_len = slash != NULL ? (size_t)(slash - service) : strlen(service);
    router_config *cfg = router_config_get(st->r);
    router_set *set = router_choose_set(cfg, service, service_len);
    b = set != NULL ? router_pick(set, st->tried, 0, false, st->key, st->key_len) : NULL;
    if (b != NULL) {
      router_config_unref(st->cfg);
      st->cfg = cfg;
      st->set = set;
    } else {
      router_config_unref(cfg);
    }
  }
  if (b == NULL && st->set->n_unresolved > 0) { /* say which dns: name is missing */
    return shimkit_call_error(call, SHIMKIT_UNAVAILABLE, "router: no healthy backend for %s (set %s; %s%s)",
                              method, st->set->spec.name, st->set->unresolved[0],
                              st->set->n_unresolved > 1 ? "; and more" : "");
  }
  if (b == NULL) {
    return shimkit_call_error(call, SHIMKIT_UNAVAILABLE, "router: no healthy backend for %s (set %s)", method,
                              st->set->spec.name);
  }
  st->tried[st->n_tried++] = b;
  *channel = b->channel;
  return SHIMKIT_OK;
}

static shimkit_channel *fwd_attempt_done(shimkit_call *call, void *state, const shimkit_forward_attempt *a) {
  fwd_state *st = state;
  router_backend *b = st->tried[st->n_tried - 1];
  /* With retry_not_found, NOT_FOUND before anything else means "not on this
   * replica": where the call looks next, not a failure of the replica. */
  bool not_here = a->code == SHIMKIT_NOT_FOUND && st->set->spec.retry_not_found && !a->answered;
  router_release(b, not_here ? SHIMKIT_OK : a->code);
  bool time_left = a->replayable && shimkit_call_time_left_ms(call) > 0;
  bool unreached = a->code == SHIMKIT_UNAVAILABLE && !a->answered && a->n_trailers == 0 && time_left &&
                   st->n_tried < ROUTER_MAX_ATTEMPTS && router_connect_failure(a->message);
  bool ask_next = not_here && time_left && st->n_tried < ROUTER_MAX_ASKED;
  router_backend *nb =
      unreached || ask_next ? router_pick(st->set, st->tried, st->n_tried, false, st->key, st->key_len) : NULL;
  if (nb == NULL) {
    return NULL;
  }
  if (unreached) {
    atomic_fetch_add(&b->retried_away, 1);
    shimkit_log(SHIMKIT_LOG_INFO, "router", "%s: %s could not be reached (%s); retrying on %s",
                shimkit_call_method(call), b->address, a->message, nb->address);
  } else {
    shimkit_log(SHIMKIT_LOG_DEBUG, "router", "%s: %s answered NOT_FOUND (%s); asking %s",
                shimkit_call_method(call), b->address, a->message, nb->address);
  }
  st->tried[st->n_tried++] = nb;
  return nb->channel;
}

static void fwd_end(shimkit_call *call, void *state, shimkit_code code) {
  fwd_state *st = state;
  if (st->n_tried > 0 && st->r->access_log) {
    struct timespec ts1;
    clock_gettime(CLOCK_MONOTONIC, &ts1);
    double ms = (double)(ts1.tv_sec - st->ts0.tv_sec) * 1e3 + (double)(ts1.tv_nsec - st->ts0.tv_nsec) / 1e6;
    shimkit_log(SHIMKIT_LOG_INFO, "router", "forwarded %s from %s to %s (set %s): %s (%d attempt%s, %.1f ms)",
                shimkit_call_method(call), shimkit_call_peer(call), st->tried[st->n_tried - 1]->address,
                st->set->spec.name, shimkit_code_name(code), st->n_tried, st->n_tried == 1 ? "" : "s", ms);
  } else if (st->hold != 0 && st->r->access_log) {
    struct timespec ts1;
    clock_gettime(CLOCK_MONOTONIC, &ts1);
    double ms = (double)(ts1.tv_sec - st->ts0.tv_sec) * 1e3 + (double)(ts1.tv_nsec - st->ts0.tv_nsec) / 1e6;
    shimkit_log(SHIMKIT_LOG_INFO, "router", "%s from %s ended while held, not forwarded: %s (%.1f ms)",
                shimkit_call_method(call), shimkit_call_peer(call), shimkit_code_name(code), ms);
  }
  if (st->hold != 0) {
    router_hold_leave(st->r, st->hold); /* ended while held: cancelled, deadline, drain */
  }
  free(st->field_key);
  router_config_unref(st->cfg);
  free(st);
}

shimkit_code router_forward_install(router *r, shimkit_server *srv) {
  static const shimkit_forwarder hooks = {
      .begin = fwd_begin,
      .choose = fwd_choose,
      .attempt_done = fwd_attempt_done,
      .end = fwd_end,
  };
  return shimkit_server_set_forwarder(srv, &hooks, r);
}
