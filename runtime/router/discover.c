/*
 * discover.c - the router's resolver thread for dns: backends
 * (dns_table.h): every dns: name of the sets is resolved at once, then
 * every --resolve-interval-ms, on this thread only: never on a forwarded
 * call's path, and never under a lock a call takes (dns_lock guards the
 * table only; the resolver runs with no lock held). When a name's addresses
 * change, a new snapshot of the same sets is swapped in (router_config_replace
 * under admin_lock, as an admin change is): the replicas at addresses that
 * stay are the same objects, new addresses get a replica with its health
 * watch, and replicas whose address went away are removed as ApplySet
 * removes one (their in-flight calls finish).
 *
 * A failed resolution keeps the last good list; the first failure of a
 * streak is logged as a warning with the reason, the recovery as info.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "router.h"

#define DNS_KEEP_UNUSED_MS 30000 /* a name no set uses is forgotten after this */
#define DNS_SWAP_RETRY_MS 20      /* a snapshot swap put off by an admin change is tried again after this */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec at_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  return ts;
}

/* "a, b, c" of list (at most cap bytes). */
static void join(char *out, size_t cap, char *const *list, int n) {
  out[0] = '\0';
  for (int i = 0; i < n; i++) {
    size_t used = strlen(out);
    snprintf(out + used, cap - used, "%s%s", i > 0 ? ", " : "", list[i]);
  }
}

static void log_change(const char *name, int n_addrs, int n_before, const char *error,
                       const router_dns_change *ch, bool changed) {
  if (ch->warn) {
    shimkit_log(SHIMKIT_LOG_WARN, "router", "cannot resolve %s: %s; %s", name, error,
                n_before > 0 ? "keeping its last addresses" : "its set has no replica from it");
  }
  if (ch->recovered) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "%s resolves again", name);
  }
  if (changed) {
    char added[1024], removed[1024];
    join(added, sizeof added, ch->added, ch->n_added);
    join(removed, sizeof removed, ch->removed, ch->n_removed);
    shimkit_log(SHIMKIT_LOG_INFO, "router", "%s: %d address%s (added: %s; removed: %s)", name, n_addrs,
                n_addrs == 1 ? "" : "es", ch->n_added > 0 ? added : "none", ch->n_removed > 0 ? removed : "none");
  }
  if (changed && ch->dropped > 0) {
    shimkit_log(SHIMKIT_LOG_WARN, "router", "%s resolves to more than %d addresses: using the first %d (sorted), "
                "%d left out", name, ROUTER_MAX_BACKENDS, ROUTER_MAX_BACKENDS, ch->dropped);
  }
}

/* Copies of the names to resolve: every name (all) or those never tried. */
static int names_to_resolve(router *r, bool all, char ***names, int *n) {
  *names = NULL;
  *n = 0;
  int rc = 0;
  pthread_mutex_lock(&r->dns_lock);
  for (int i = 0; rc == 0 && i < r->dns.n; i++) {
    if (all || r->dns.entries[i].attempts == 0) {
      rc = router_spec_push(names, n, r->dns.entries[i].name);
    }
  }
  pthread_mutex_unlock(&r->dns_lock);
  return rc;
}

/* Resolves names (no lock held while resolving); true when some addresses changed. */
static bool resolve_names(router *r, char **names, int n) {
  bool swap = false;
  for (int i = 0; i < n && !atomic_load(&r->stopping); i++) {
    char **addrs = NULL;
    int n_addrs = 0;
    char err[ROUTER_DNS_MAX_ERROR] = "";
    int rc = router_dns_resolve(names[i], r->resolve, r->resolve_ctx, &addrs, &n_addrs, err, sizeof err);
    router_dns_change ch;
    memset(&ch, 0, sizeof ch);
    pthread_mutex_lock(&r->dns_lock);
    router_dns_entry *e = router_dns_find(&r->dns, names[i]);
    bool changed = false;
    int n_before = 0, n_after = 0;
    if (e != NULL) {
      n_before = e->n_addrs;
      bool never = !e->resolved;
      changed = router_dns_apply(e, rc, addrs, n_addrs, err, &ch);
      n_after = e->n_addrs;
      /* a name that never resolved: its sets' "has not resolved" reason changes too */
      swap = swap || changed || (ch.warn && never);
    } else {
      for (int k = 0; k < n_addrs; k++) {
        free(addrs[k]);
      }
      free(addrs);
    }
    pthread_cond_broadcast(&r->dns_done);
    pthread_mutex_unlock(&r->dns_lock);
    log_change(names[i], n_after, n_before, err, &ch, changed);
    router_dns_change_clear(&ch);
  }
  return swap;
}

/*
 * A new snapshot of the same sets, with the addresses resolved now. false
 * when an admin change holds admin_lock: the thread does not wait for it (a
 * change may be waiting for this thread to resolve its new names) and tries
 * again shortly; the admin change itself expands the latest addresses anyway.
 */
static bool swap_in(router *r) {
  if (pthread_mutex_trylock(&r->admin_lock) != 0) {
    return false;
  }
  router_set_spec *specs = NULL;
  int n = 0;
  if (!atomic_load(&r->stopping) && router_config_specs(r, &specs, &n) == 0 &&
      router_config_replace(r, specs, n) != 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "router", "out of memory: the sets keep their replicas until the next "
                "resolution");
  }
  pthread_mutex_unlock(&r->admin_lock);
  for (int i = 0; i < n; i++) {
    router_spec_clear(&specs[i]);
  }
  free(specs);
  return true;
}

/* The names of the current sets join the table; names no set uses for a while leave it. */
static void sync_names(router *r) {
  router_set_spec *specs = NULL;
  int n = 0;
  if (router_config_specs(r, &specs, &n) != 0) {
    return;
  }
  pthread_mutex_lock(&r->dns_lock);
  router_dns_sync(&r->dns, specs, n, now_ms(), DNS_KEEP_UNUSED_MS);
  pthread_mutex_unlock(&r->dns_lock);
  for (int i = 0; i < n; i++) {
    router_spec_clear(&specs[i]);
  }
  free(specs);
}

static void *dns_main(void *arg) {
  router *r = arg;
  int64_t next_round = 0; /* the next full round (every name) */
  bool pending = false;   /* addresses changed and the new snapshot is not in yet */
  pthread_mutex_lock(&r->dns_lock);
  while (!r->dns_stop) {
    bool all = now_ms() >= next_round;
    r->dns_kick = false;
    pthread_mutex_unlock(&r->dns_lock);
    if (all) {
      sync_names(r);
      next_round = now_ms() + r->resolve_interval_ms;
    }
    char **names = NULL;
    int n = 0;
    if (names_to_resolve(r, all, &names, &n) == 0 && n > 0 && resolve_names(r, names, n)) {
      pending = true;
    }
    for (int i = 0; i < n; i++) {
      free(names[i]);
    }
    free(names);
    if (pending && swap_in(r)) {
      pending = false;
    }
    pthread_mutex_lock(&r->dns_lock);
    int64_t until_ms = pending ? now_ms() + DNS_SWAP_RETRY_MS : next_round;
    struct timespec until = at_ms(until_ms);
    while (!r->dns_stop && !r->dns_kick && now_ms() < until_ms) {
      pthread_cond_timedwait(&r->dns_kicked, &r->dns_lock, &until);
    }
  }
  pthread_mutex_unlock(&r->dns_lock);
  return NULL;
}

int router_dns_start(router *r) {
  pthread_mutex_lock(&r->dns_lock);
  r->dns_stop = false;
  int rc = pthread_create(&r->dns_thread, NULL, dns_main, r);
  r->dns_on = rc == 0;
  pthread_mutex_unlock(&r->dns_lock);
  if (rc != 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "router", "cannot start the resolver thread of dns: backends");
    return -1;
  }
  return 0;
}

void router_dns_stop(router *r) {
  pthread_mutex_lock(&r->dns_lock);
  bool on = r->dns_on;
  r->dns_on = false;
  r->dns_stop = true;
  pthread_cond_broadcast(&r->dns_kicked);
  pthread_cond_broadcast(&r->dns_done);
  pthread_mutex_unlock(&r->dns_lock);
  if (on) {
    pthread_join(r->dns_thread, NULL);
  }
  pthread_mutex_lock(&r->dns_lock);
  router_dns_table_clear(&r->dns);
  pthread_mutex_unlock(&r->dns_lock);
}

/* Every dns: name of specs has been tried at least once (dns_lock held). */
static bool all_tried(router *r, const router_set_spec *specs, int n) {
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < specs[i].n_backends; j++) {
      const router_dns_entry *e = router_is_dns_backend(specs[i].backends[j])
                                      ? router_dns_find(&r->dns, specs[i].backends[j])
                                      : NULL;
      if (e != NULL && e->attempts == 0) {
        return false;
      }
    }
  }
  return true;
}

void router_dns_prime(router *r, const router_set_spec *specs, int n) {
  pthread_mutex_lock(&r->dns_lock);
  for (int i = 0; i < n; i++) {
    if (router_dns_add(&r->dns, &specs[i]) < 0) {
      shimkit_log(SHIMKIT_LOG_ERROR, "router", "out of memory: set %s's dns: names are resolved later",
                  specs[i].name);
    }
  }
  if (!all_tried(r, specs, n)) {
    r->dns_kick = true;
    pthread_cond_broadcast(&r->dns_kicked);
    struct timespec until = at_ms(now_ms() + ROUTER_FIRST_RESOLVE_MS);
    while (r->dns_on && !r->dns_stop && !all_tried(r, specs, n) &&
           pthread_cond_timedwait(&r->dns_done, &r->dns_lock, &until) == 0) {
    }
  }
  pthread_mutex_unlock(&r->dns_lock);
}
