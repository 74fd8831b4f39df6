/*
 * hold.c - HoldService: new calls of a held service wait in the router
 * (never failed because of the hold) until the hold is released or lapses.
 * shimctl swap holds a stateful service while it copies the data, so that
 * no write lands on the old set after the copy began.
 *
 * A held call holds no thread: forward.c's begin asks libshimkit to park it
 * (shimkit_forward_plan.wait, router_hold_check here) and libshimkit keeps
 * its close watch, so a client that cancels or whose deadline passes ends at
 * once and is never forwarded. Whatever lets held calls go (a release, a
 * hold that lapsed) calls shimkit_server_forward_resume(), which runs begin
 * again for every parked call: those no longer held go on as usual. The
 * lapses are timed by one small thread (hold_timer), asleep without a
 * timeout while nothing is held. So RouterAdmin, on the same workers,
 * answers whatever number of calls is held.
 *
 * Each hold has an id, so that a parked call counts itself out of the hold
 * it waited on (router_hold_leave), not out of a later hold of the same
 * service.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "router.h"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The hold of service (len bytes), or NULL. hold_lock held. */
static router_hold *find(router *r, const char *service, size_t len) {
  for (int i = 0; i < r->n_holds; i++) {
    if (strlen(r->holds[i].service) == len && memcmp(r->holds[i].service, service, len) == 0) {
      return &r->holds[i];
    }
  }
  return NULL;
}

/* Drops the hold at i; returns the calls that waited on it. hold_lock held. */
static int drop(router *r, int i) {
  int waiting = r->holds[i].waiting;
  free(r->holds[i].service);
  r->holds[i] = r->holds[--r->n_holds];
  atomic_store(&r->n_holds_seen, r->n_holds);
  return waiting;
}

/* Drops the holds that lapsed; true when calls waited on one (then resume them). hold_lock held. */
static bool prune(router *r) {
  int64_t now = now_ms();
  bool waiters = false;
  for (int i = 0; i < r->n_holds;) {
    if (r->holds[i].until_ms <= now) {
      waiters = drop(r, i) > 0 || waiters;
    } else {
      i++;
    }
  }
  return waiters;
}

/* Lets the parked calls run begin again (none of r's locks held). */
static void resume(router *r) {
  shimkit_server *srv = atomic_load(&r->srv);
  if (srv != NULL) {
    shimkit_server_forward_resume(srv);
  }
}

int router_hold_set(router *r, const char *service, bool hold, uint32_t timeout_ms) {
  pthread_mutex_lock(&r->hold_lock);
  bool lapsed = prune(r);
  router_hold *h = find(r, service, strlen(service));
  int waiting = h != NULL ? h->waiting : 0;
  bool released = false;
  if (hold) {
    if (h == NULL && r->n_holds < ROUTER_MAX_HOLDS) {
      char *copy = strdup(service);
      if (copy != NULL) {
        h = &r->holds[r->n_holds++];
        h->service = copy;
        h->waiting = 0;
        h->id = ++r->hold_ids;
        atomic_store(&r->n_holds_seen, r->n_holds);
      }
    }
    if (h == NULL) {
      waiting = -1; /* out of room */
    } else {
      h->until_ms = now_ms() + (timeout_ms == 0 ? ROUTER_HOLD_DEFAULT_MS : timeout_ms);
      pthread_cond_signal(&r->hold_changed); /* the timer looks at the new lapse time */
    }
  } else if (h != NULL) {
    drop(r, (int)(h - r->holds));
    released = true;
  }
  pthread_mutex_unlock(&r->hold_lock);
  if (released || lapsed) {
    resume(r);
  }
  if (hold && waiting >= 0) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "holding new calls of %s for at most %u ms", service,
                timeout_ms == 0 ? ROUTER_HOLD_DEFAULT_MS : timeout_ms);
  } else if (!hold) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "released %s (%d calls were waiting)", service, waiting);
  }
  return waiting;
}

uint64_t router_hold_check(router *r, const char *service, size_t len) {
  if (atomic_load(&r->n_holds_seen) == 0) {
    return 0; /* the common case: no lock taken */
  }
  uint64_t id = 0;
  pthread_mutex_lock(&r->hold_lock);
  router_hold *h = find(r, service, len);
  if (h != NULL && h->until_ms > now_ms()) {
    h->waiting++;
    id = h->id;
  }
  pthread_mutex_unlock(&r->hold_lock);
  return id;
}

void router_hold_leave(router *r, uint64_t id) {
  pthread_mutex_lock(&r->hold_lock);
  for (int i = 0; i < r->n_holds; i++) {
    if (r->holds[i].id == id) {
      r->holds[i].waiting--;
      break;
    }
  }
  pthread_mutex_unlock(&r->hold_lock);
}

int router_hold_list(router *r, char ***names, int *n) {
  pthread_mutex_lock(&r->hold_lock);
  bool lapsed = prune(r);
  char **out = calloc((size_t)r->n_holds + 1, sizeof *out);
  int k = 0;
  for (int i = 0; out != NULL && i < r->n_holds; i++) {
    if ((out[k] = strdup(r->holds[i].service)) != NULL) {
      k++;
    }
  }
  pthread_mutex_unlock(&r->hold_lock);
  if (lapsed) {
    resume(r);
  }
  *names = out;
  *n = k;
  return out != NULL ? 0 : -1;
}

/* ---- the timer: holds that lapse --------------------------------------------- */

static void *hold_timer(void *arg) {
  router *r = arg;
  pthread_mutex_lock(&r->hold_lock);
  while (!r->timer_stop) {
    if (prune(r)) {
      pthread_mutex_unlock(&r->hold_lock);
      shimkit_log(SHIMKIT_LOG_INFO, "router", "a hold lapsed: its calls go on");
      resume(r);
      pthread_mutex_lock(&r->hold_lock);
      continue;
    }
    if (r->n_holds == 0) {
      pthread_cond_wait(&r->hold_changed, &r->hold_lock);
      continue;
    }
    int64_t next = r->holds[0].until_ms;
    for (int i = 1; i < r->n_holds; i++) {
      if (r->holds[i].until_ms < next) {
        next = r->holds[i].until_ms;
      }
    }
    struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
    pthread_cond_timedwait(&r->hold_changed, &r->hold_lock, &ts); /* CLOCK_MONOTONIC (sets.c) */
  }
  pthread_mutex_unlock(&r->hold_lock);
  return NULL;
}

int router_hold_start(router *r, shimkit_server *srv) {
  atomic_store(&r->srv, srv);
  pthread_mutex_lock(&r->hold_lock);
  r->timer_stop = false;
  int err = r->timer_on ? 0 : pthread_create(&r->timer, NULL, hold_timer, r);
  if (err == 0) {
    r->timer_on = true;
  }
  pthread_mutex_unlock(&r->hold_lock);
  if (err != 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "router", "cannot start the hold timer thread");
    return -1;
  }
  return 0;
}

void router_hold_stop(router *r) {
  pthread_mutex_lock(&r->hold_lock);
  bool on = r->timer_on;
  r->timer_on = false;
  r->timer_stop = true;
  pthread_cond_broadcast(&r->hold_changed);
  pthread_mutex_unlock(&r->hold_lock);
  if (on) {
    pthread_join(r->timer, NULL);
  }
  atomic_store(&r->srv, NULL); /* the server is about to go: nothing resumes on it */
}
