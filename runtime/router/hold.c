/*
 * hold.c - HoldService: new calls of a held service wait in the router
 * (never failed because of the hold) until the hold is released or lapses.
 * shimctl swap holds a stateful service while it copies the data, so that
 * no write lands on the old set after the copy began. Waiting calls wake on
 * release, on the hold's own timeout, on their deadline and when the client
 * cancels; in each case they go on as usual (an expired deadline then fails
 * on its own).
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

/* Drops holds that lapsed and have no waiter left. hold_lock held. */
static void prune(router *r) {
  int64_t now = now_ms();
  for (int i = 0; i < r->n_holds;) {
    if (r->holds[i].until_ms <= now && r->holds[i].waiting == 0) {
      free(r->holds[i].service);
      r->holds[i] = r->holds[--r->n_holds];
    } else {
      i++;
    }
  }
  atomic_store(&r->n_holds_seen, r->n_holds);
}

int router_hold_set(router *r, const char *service, bool hold, uint32_t timeout_ms) {
  pthread_mutex_lock(&r->hold_lock);
  prune(r);
  router_hold *h = find(r, service, strlen(service));
  int waiting = h != NULL ? h->waiting : 0;
  if (hold) {
    if (h == NULL && r->n_holds < ROUTER_MAX_HOLDS) {
      char *copy = strdup(service);
      if (copy != NULL) {
        h = &r->holds[r->n_holds++];
        h->service = copy;
        h->waiting = 0;
        atomic_store(&r->n_holds_seen, r->n_holds);
      }
    }
    if (h == NULL) {
      waiting = -1; /* out of room */
    } else {
      h->until_ms = now_ms() + (timeout_ms == 0 ? ROUTER_HOLD_DEFAULT_MS : timeout_ms);
    }
  } else if (h != NULL) {
    h->until_ms = 0; /* lapsed: waiters leave, the last one... prune() drops it */
    pthread_cond_broadcast(&r->hold_changed);
  }
  prune(r);
  pthread_mutex_unlock(&r->hold_lock);
  if (hold && waiting >= 0) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "holding new calls of %s for at most %u ms", service,
                timeout_ms == 0 ? ROUTER_HOLD_DEFAULT_MS : timeout_ms);
  } else if (!hold) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "released %s (%d calls were waiting)", service, waiting);
  }
  return waiting;
}

void router_hold_wait(router *r, shimkit_call *call, const char *service, size_t len) {
  if (atomic_load(&r->n_holds_seen) == 0) {
    return; /* the common case: no lock taken */
  }
  pthread_mutex_lock(&r->hold_lock);
  router_hold *h = find(r, service, len);
  if (h == NULL || h->until_ms <= now_ms()) {
    pthread_mutex_unlock(&r->hold_lock);
    return;
  }
  h->waiting++;
  int64_t left = shimkit_call_time_left_ms(call);
  int64_t deadline = left == INT64_MAX ? INT64_MAX : now_ms() + left;
  for (;;) {
    h = find(r, service, len); /* the array may have moved */
    int64_t now = now_ms();
    if (h->until_ms <= now || deadline <= now || shimkit_call_is_cancelled(call)) {
      break;
    }
    /* Wake at least every 100 ms to notice a client that went away. */
    int64_t until = h->until_ms < deadline ? h->until_ms : deadline;
    if (until > now + 100) {
      until = now + 100;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (until - now) * 1000000;
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_cond_timedwait(&r->hold_changed, &r->hold_lock, &ts);
  }
  h = find(r, service, len);
  h->waiting--;
  prune(r);
  pthread_mutex_unlock(&r->hold_lock);
}

int router_hold_list(router *r, char ***names, int *n) {
  pthread_mutex_lock(&r->hold_lock);
  prune(r);
  int64_t now = now_ms();
  char **out = calloc((size_t)r->n_holds + 1, sizeof *out);
  int k = 0;
  for (int i = 0; out != NULL && i < r->n_holds; i++) {
    if (r->holds[i].until_ms > now && (out[k] = strdup(r->holds[i].service)) != NULL) {
      k++;
    }
  }
  pthread_mutex_unlock(&r->hold_lock);
  *names = out;
  *n = k;
  return out != NULL ? 0 : -1;
}
