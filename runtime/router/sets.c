/*
 * sets.c - the router's sets as reference-counted snapshots (router.h):
 * building a new snapshot from specs while keeping the replicas that stay,
 * swapping it in, and choosing a set for a new call by weight.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "field_route.h"
#include "method_kind.h"
#include "router.h"
#include "swrr.h"

void router_init(router *r) {
  memset(r, 0, sizeof *r);
  r->health_retry_ms = 500;
  r->access_log = true;
  r->unary_plan = true;
  r->kinds = router_method_kinds_new();
  pthread_mutex_init(&r->cfg_lock, NULL);
  pthread_mutex_init(&r->admin_lock, NULL);
  pthread_mutex_init(&r->watch_lock, NULL);
  pthread_cond_init(&r->watch_done, NULL);
  pthread_mutex_init(&r->hold_lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* the hold timer waits for monotonic times */
  pthread_cond_init(&r->hold_changed, &attr);
  pthread_cond_init(&r->dns_kicked, &attr);
  pthread_cond_init(&r->dns_done, &attr);
  pthread_condattr_destroy(&attr);
  pthread_mutex_init(&r->dns_lock, NULL);
  r->resolve_interval_ms = ROUTER_RESOLVE_INTERVAL_MS;
  r->resolve = router_resolve_system;
  atomic_init(&r->stopping, false);
  atomic_init(&r->n_holds_seen, 0);
  atomic_init(&r->srv, NULL);
  router_service_health_init(&r->svc_health);
}

static void free_strings(char **list, int n) {
  for (int i = 0; i < n; i++) {
    free(list[i]);
  }
  free(list);
}

static void config_free(router_config *cfg) {
  for (int i = 0; i < cfg->n_sets; i++) {
    router_set *s = &cfg->sets[i];
    for (int j = 0; s->backends != NULL && j < s->n_backends; j++) {
      router_backend_unref(s->backends[j]);
    }
    free(s->backends);
    free(s->origin);
    free_strings(s->unresolved, s->n_unresolved);
    router_field_cache_unref(s->field_cache);
    router_spec_clear(&s->spec);
  }
  for (int i = 0; i < cfg->n_groups; i++) {
    free(cfg->groups[i].service);
    free(cfg->groups[i].sets);
    free(cfg->groups[i].current);
    pthread_mutex_destroy(&cfg->groups[i].lock);
  }
  free(cfg->groups);
  free(cfg->sets);
  free(cfg);
}

void router_config_unref(router_config *cfg) {
  if (cfg != NULL && atomic_fetch_sub(&cfg->refs, 1) == 1) {
    config_free(cfg);
  }
}

router_config *router_config_get(router *r) {
  pthread_mutex_lock(&r->cfg_lock);
  router_config *cfg = r->config;
  if (cfg != NULL) {
    atomic_fetch_add(&cfg->refs, 1);
  }
  pthread_mutex_unlock(&r->cfg_lock);
  return cfg;
}

/* The replica of old set name at address, or NULL. */
static router_backend *find_backend(const router_config *old, const char *name, const char *address) {
  for (int i = 0; old != NULL && i < old->n_sets; i++) {
    const router_set *s = &old->sets[i];
    if (strcmp(s->spec.name, name) != 0) {
      continue;
    }
    for (int j = 0; j < s->n_backends; j++) {
      if (strcmp(s->backends[j]->address, address) == 0) {
        return s->backends[j];
      }
    }
  }
  return NULL;
}

/* The round-robin cursor of the old snapshot's set of that name (0 for a new
 * set): a snapshot swap (another set's change, a DNS answer) keeps the turn. */
static unsigned old_cursor(const router_config *old, const char *name) {
  for (int i = 0; old != NULL && i < old->n_sets; i++) {
    if (strcmp(old->sets[i].spec.name, name) == 0) {
      return atomic_load(&old->sets[i].next);
    }
  }
  return 0;
}

/*
 * The field cache of set s (hash on a field): the old snapshot's, when its
 * set of the same name hashes on the same field over the same replicas (a
 * weight change, say); else a new one, so that a changed set learns its
 * descriptors afresh. NULL when out of memory.
 */
static struct router_field_cache *keep_field_cache(const router_config *old, const router_set *s) {
  for (int i = 0; old != NULL && i < old->n_sets; i++) {
    const router_set *o = &old->sets[i];
    if (strcmp(o->spec.name, s->spec.name) != 0 || o->field_cache == NULL ||
        strcmp(o->spec.hash_field, s->spec.hash_field) != 0 || o->spec.n_backends != s->spec.n_backends) {
      continue;
    }
    bool same = true;
    for (int j = 0; same && j < s->spec.n_backends; j++) {
      same = strcmp(o->spec.backends[j], s->spec.backends[j]) == 0;
    }
    if (same) {
      return router_field_cache_ref(o->field_cache);
    }
  }
  return router_field_cache_new(s->spec.hash_field);
}

static bool contains_backend(const router_config *cfg, const router_backend *b) {
  for (int i = 0; cfg != NULL && i < cfg->n_sets; i++) {
    for (int j = 0; j < cfg->sets[i].n_backends; j++) {
      if (cfg->sets[i].backends[j] == b) {
        return true;
      }
    }
  }
  return false;
}

/*
 * The replica addresses of set s (copies, *n of them), from its spec and
 * what its dns: names resolved to; sets s->origin, s->unresolved and room
 * for the replicas in s->backends. 0, or -1 when out of memory.
 */
static int replica_addresses(router *r, router_set *s, char ***out, int *n) {
  const char **addrs = NULL;
  int dropped = 0;
  *out = NULL;
  *n = 0;
  pthread_mutex_lock(&r->dns_lock);
  int rc = router_dns_expand(&s->spec, &r->dns, &addrs, &s->origin, n, &dropped);
  if (rc == 0 && (*out = calloc((size_t)*n + 1, sizeof **out)) == NULL) {
    rc = -1;
  }
  for (int j = 0; rc == 0 && j < *n; j++) {
    (*out)[j] = strdup(addrs[j]);
    rc = (*out)[j] == NULL ? -1 : 0;
  }
  for (int j = 0; rc == 0 && j < s->spec.n_backends; j++) {
    const char *b = s->spec.backends[j];
    const router_dns_entry *e = router_is_dns_backend(b) ? router_dns_find(&r->dns, b) : NULL;
    if (router_is_dns_backend(b) && (e == NULL || e->n_addrs == 0)) {
      char why[ROUTER_MAX_ADDRESS + ROUTER_DNS_MAX_ERROR + 32];
      snprintf(why, sizeof why, "%s has not resolved%s%s", b, e != NULL && e->error[0] != '\0' ? ": " : " yet",
               e != NULL ? e->error : "");
      rc = router_spec_push(&s->unresolved, &s->n_unresolved, why);
    }
  }
  pthread_mutex_unlock(&r->dns_lock);
  free(addrs);
  if (rc == 0 && (s->backends = calloc((size_t)*n + 1, sizeof *s->backends)) == NULL) {
    rc = -1;
  }
  if (rc != 0) {
    free_strings(*out, *out != NULL ? *n : 0);
    *out = NULL;
    *n = 0;
    return -1;
  }
  if (dropped > 0) {
    shimkit_log(SHIMKIT_LOG_WARN, "router", "set %s: more than %d replicas; %d addresses left out", s->spec.name,
                ROUTER_MAX_BACKENDS, dropped);
  }
  return 0;
}

/* Adds set index to the group of service (NULL = catch-all), making it. */
static int group_add(router_config *cfg, const char *service, int index) {
  router_group *g = NULL;
  for (int i = 0; i < cfg->n_groups; i++) {
    const char *gs = cfg->groups[i].service;
    if ((gs == NULL && service == NULL) || (gs != NULL && service != NULL && strcmp(gs, service) == 0)) {
      g = &cfg->groups[i];
    }
  }
  if (g == NULL) {
    router_group *grown = realloc(cfg->groups, (size_t)(cfg->n_groups + 1) * sizeof *grown);
    if (grown == NULL) {
      return -1;
    }
    cfg->groups = grown;
    g = &cfg->groups[cfg->n_groups];
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->lock, NULL);
    cfg->n_groups++;
    if (service != NULL && (g->service = strdup(service)) == NULL) {
      return -1;
    }
  }
  int *sets = realloc(g->sets, (size_t)(g->n_sets + 1) * sizeof *sets);
  if (sets == NULL) {
    return -1;
  }
  g->sets = sets;
  int64_t *cur = realloc(g->current, (size_t)(g->n_sets + 1) * sizeof *cur);
  if (cur == NULL) {
    return -1;
  }
  g->current = cur;
  g->sets[g->n_sets] = index;
  g->current[g->n_sets] = 0;
  g->n_sets++;
  return 0;
}

/* Waits until every fresh replica had its first health answer, or
 * ROUTER_FIRST_HEALTH_MS passed, or the router stops. */
static void wait_first_health(router *r, router_backend **fresh, int n) {
  for (int waited = 0; waited < ROUTER_FIRST_HEALTH_MS && !atomic_load(&r->stopping); waited += 5) {
    bool all = true;
    for (int i = 0; all && i < n; i++) {
      all = atomic_load(&fresh[i]->known);
    }
    if (all) {
      return;
    }
    struct timespec ts = {0, 5 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

int router_config_replace(router *r, const router_set_spec *specs, int n) {
  router_config *old = router_config_get(r);
  router_config *cfg = calloc(1, sizeof *cfg);
  router_backend **fresh = NULL; /* replicas made now: their watches start on success */
  int n_fresh = 0;
  if (cfg == NULL) {
    goto fail;
  }
  atomic_init(&cfg->refs, 1);
  cfg->sets = calloc((size_t)(n > 0 ? n : 1), sizeof *cfg->sets);
  fresh = calloc((size_t)n * ROUTER_MAX_BACKENDS + 1, sizeof *fresh);
  if (cfg->sets == NULL || fresh == NULL) {
    goto fail;
  }
  for (int i = 0; i < n; i++) {
    router_set *s = &cfg->sets[i];
    cfg->n_sets++;
    atomic_init(&s->next, old_cursor(old, specs[i].name));
    if (router_spec_copy(&s->spec, &specs[i]) != 0) {
      goto fail;
    }
    char **addrs = NULL;
    int n_addrs = 0;
    if (replica_addresses(r, s, &addrs, &n_addrs) != 0) {
      goto fail;
    }
    for (int j = 0; j < n_addrs; j++) {
      router_backend *b = find_backend(old, s->spec.name, addrs[j]);
      if (b != NULL) {
        router_backend_ref(b);
      } else if ((b = router_backend_new(r, s->spec.name, addrs[j])) != NULL) {
        fresh[n_fresh++] = b;
      } else {
        break;
      }
      s->backends[s->n_backends++] = b;
    }
    free_strings(addrs, n_addrs);
    if (s->n_backends < n_addrs) {
      goto fail;
    }
    if (s->spec.hash_field != NULL && s->spec.policy == ROUTER_HASH &&
        (s->field_cache = keep_field_cache(old, s)) == NULL) {
      goto fail;
    }
    if (s->spec.n_services == 0 ? group_add(cfg, NULL, i) != 0 : 0) {
      goto fail;
    }
    for (int k = 0; k < s->spec.n_services; k++) {
      if (group_add(cfg, s->spec.services[k], i) != 0) {
        goto fail;
      }
    }
  }
  for (int i = 0; i < n_fresh; i++) {
    router_backend_watch(fresh[i]);
  }
  wait_first_health(r, fresh, n_fresh);
  pthread_mutex_lock(&r->cfg_lock);
  router_config *prev = r->config;
  r->config = cfg;
  pthread_mutex_unlock(&r->cfg_lock);
  /* Replicas that left: their watches end now; calls on them finish. */
  for (int i = 0; old != NULL && i < old->n_sets; i++) {
    for (int j = 0; j < old->sets[i].n_backends; j++) {
      if (!contains_backend(cfg, old->sets[i].backends[j])) {
        router_backend_stop(old->sets[i].backends[j]);
      }
    }
  }
  free(fresh);
  router_config_unref(prev);
  router_config_unref(old);
  router_service_health_update(r); /* services added, removed, or served by other replicas now */
  return 0;
fail:
  if (cfg != NULL) {
    config_free(cfg); /* drops the refs taken and frees the fresh replicas */
  }
  free(fresh);
  router_config_unref(old);
  return -1;
}

int router_config_specs(router *r, router_set_spec **specs, int *n) {
  router_config *cfg = router_config_get(r);
  *specs = NULL;
  *n = 0;
  if (cfg == NULL || cfg->n_sets == 0) {
    router_config_unref(cfg);
    return 0;
  }
  router_set_spec *out = calloc((size_t)cfg->n_sets, sizeof *out);
  int rc = out != NULL ? 0 : -1;
  for (int i = 0; rc == 0 && i < cfg->n_sets; i++) {
    rc = router_spec_copy(&out[i], &cfg->sets[i].spec);
  }
  if (rc == 0) {
    *specs = out;
    *n = cfg->n_sets;
  } else if (out != NULL) {
    for (int i = 0; i < cfg->n_sets; i++) {
      router_spec_clear(&out[i]);
    }
    free(out);
  }
  router_config_unref(cfg);
  return rc;
}

router_group *router_find_group(router_config *cfg, const char *service, size_t len) {
  router_group *g = NULL;
  router_group *catch_all = NULL;
  for (int i = 0; cfg != NULL && i < cfg->n_groups; i++) {
    router_group *c = &cfg->groups[i];
    if (c->service == NULL) {
      catch_all = c;
    } else if (strlen(c->service) == len && memcmp(c->service, service, len) == 0) {
      g = c;
      break;
    }
  }
  return g != NULL ? g : catch_all;
}

router_set *router_choose_set(router_config *cfg, const char *service, size_t len) {
  router_group *g = router_find_group(cfg, service, len);
  if (g == NULL) {
    return NULL;
  }
  if (g->n_sets == 1) {
    return &cfg->sets[g->sets[0]];
  }
  uint32_t weights[ROUTER_MAX_SETS];
  bool eligible[ROUTER_MAX_SETS];
  int first_healthy = -1;
  for (int i = 0; i < g->n_sets; i++) {
    router_set *s = &cfg->sets[g->sets[i]];
    weights[i] = s->spec.weight;
    eligible[i] = router_set_has_healthy(s);
    if (eligible[i] && first_healthy < 0) {
      first_healthy = i;
    }
  }
  pthread_mutex_lock(&g->lock);
  int k = router_swrr_pick(g->current, weights, eligible, g->n_sets);
  pthread_mutex_unlock(&g->lock);
  if (k < 0) {
    k = first_healthy >= 0 ? first_healthy : 0;
  }
  return &cfg->sets[g->sets[k]];
}

void router_stop_watches(router *r, router_config *cfg) {
  for (int i = 0; cfg != NULL && i < cfg->n_sets; i++) {
    for (int j = 0; j < cfg->sets[i].n_backends; j++) {
      router_backend_stop(cfg->sets[i].backends[j]);
    }
  }
  pthread_mutex_lock(&r->watch_lock);
  while (r->n_watchers > 0) {
    pthread_cond_wait(&r->watch_done, &r->watch_lock);
  }
  pthread_mutex_unlock(&r->watch_lock);
}

void router_stop(router *r) {
  atomic_store(&r->stopping, true);
  router_dns_stop(r); /* before the sets go: it swaps snapshots in */
  pthread_mutex_lock(&r->cfg_lock);
  router_config *cfg = r->config;
  r->config = NULL;
  pthread_mutex_unlock(&r->cfg_lock);
  router_stop_watches(r, cfg);
  router_config_unref(cfg);
  router_method_kinds_free(r->kinds);
  r->kinds = NULL;
  router_hold_stop(r);
  pthread_mutex_lock(&r->hold_lock);
  for (int i = 0; i < r->n_holds; i++) {
    free(r->holds[i].service);
  }
  r->n_holds = 0;
  atomic_store(&r->n_holds_seen, 0);
  pthread_mutex_unlock(&r->hold_lock);
  router_service_health_clear(&r->svc_health);
}
