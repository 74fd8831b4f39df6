/*
 * service_health.c - the routed services' health (service_health.h): one
 * recompute over the current snapshot's groups, publishing only the names
 * whose status changed.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "router.h"

/* The router's own services (libshimkit reports them: SERVING while it runs) and "" (the router itself). */
static bool is_own(const char *service) {
  return service[0] == '\0' || router_own_service(service, strlen(service));
}

void router_service_health_init(router_service_health *h) {
  memset(h, 0, sizeof *h);
  pthread_mutex_init(&h->lock, NULL);
}

void router_service_health_clear(router_service_health *h) {
  pthread_mutex_lock(&h->lock);
  h->publish = NULL;
  for (int i = 0; i < h->n; i++) {
    free(h->entries[i].name);
  }
  free(h->entries);
  h->entries = NULL;
  h->n = 0;
  pthread_mutex_unlock(&h->lock);
}

static void publish_to_server(void *ctx, const char *service, bool serving) {
  shimkit_server_set_health(ctx, service, serving ? SHIMKIT_HEALTH_SERVING : SHIMKIT_HEALTH_NOT_SERVING);
}

void router_service_health_start_with(router *r, router_health_publish fn, void *ctx) {
  router_service_health *h = &r->svc_health;
  pthread_mutex_lock(&h->lock);
  h->publish = fn;
  h->publish_ctx = ctx;
  for (int i = 0; i < h->n; i++) {
    fn(ctx, h->entries[i].name, h->entries[i].serving); /* names known before (none in the program) */
  }
  pthread_mutex_unlock(&h->lock);
  router_service_health_update(r);
}

void router_service_health_start(router *r, shimkit_server *srv) {
  router_service_health_start_with(r, publish_to_server, srv);
}

void router_service_health_stop(router *r) {
  pthread_mutex_lock(&r->svc_health.lock);
  r->svc_health.publish = NULL;
  r->svc_health.publish_ctx = NULL;
  pthread_mutex_unlock(&r->svc_health.lock);
}

bool router_service_serving(const router_config *cfg, const char *service) {
  for (int i = 0; cfg != NULL && i < cfg->n_groups; i++) {
    const router_group *g = &cfg->groups[i];
    if (g->service == NULL || strcmp(g->service, service) != 0) {
      continue;
    }
    for (int k = 0; k < g->n_sets; k++) {
      if (router_set_has_healthy(&cfg->sets[g->sets[k]])) {
        return true;
      }
    }
  }
  return false;
}

/* The entry of name, added (published as new) when missing; NULL when full or out of memory. Lock held. */
static router_health_entry *entry_of(router_service_health *h, const char *name, bool *fresh) {
  *fresh = false;
  for (int i = 0; i < h->n; i++) {
    if (strcmp(h->entries[i].name, name) == 0) {
      return &h->entries[i];
    }
  }
  router_health_entry *grown = NULL;
  char *copy = NULL;
  if (h->n < ROUTER_HEALTH_MAX_NAMES &&
      (grown = realloc(h->entries, (size_t)(h->n + 1) * sizeof *grown)) != NULL) {
    h->entries = grown;
    copy = strdup(name);
  }
  if (copy == NULL) {
    if (!h->full_logged) {
      shimkit_log(SHIMKIT_LOG_WARN, "router", "the health of service %s is not published (%s)", name,
                  h->n < ROUTER_HEALTH_MAX_NAMES ? "out of memory" : "too many service names");
      h->full_logged = true;
    }
    return NULL;
  }
  router_health_entry *e = &h->entries[h->n++];
  e->name = copy;
  e->serving = false;
  e->want = false;
  *fresh = true;
  return e;
}

void router_service_health_update(router *r) {
  router_service_health *h = &r->svc_health;
  pthread_mutex_lock(&h->lock);
  if (h->publish == NULL) {
    pthread_mutex_unlock(&h->lock);
    return;
  }
  for (int i = 0; i < h->n; i++) {
    h->entries[i].want = false; /* a name no set lists any more: NOT_SERVING */
  }
  router_config *cfg = router_config_get(r); /* after h->lock: the flags read below are at least this new */
  for (int i = 0; cfg != NULL && i < cfg->n_groups; i++) {
    const char *service = cfg->groups[i].service;
    if (service == NULL || is_own(service)) {
      continue; /* the catch-all sets, and names libshimkit answers for */
    }
    bool fresh;
    router_health_entry *e = entry_of(h, service, &fresh);
    if (e == NULL) {
      continue;
    }
    e->want = router_service_serving(cfg, service);
    if (fresh) {
      e->serving = !e->want; /* a new name is published whatever its status */
    }
  }
  router_config_unref(cfg);
  for (int i = 0; i < h->n; i++) {
    router_health_entry *e = &h->entries[i];
    if (e->want != e->serving) {
      e->serving = e->want;
      shimkit_log(SHIMKIT_LOG_INFO, "router", "service %s is %s", e->name,
                  e->serving ? "SERVING" : "NOT_SERVING");
      h->publish(h->publish_ctx, e->name, e->serving);
    }
  }
  pthread_mutex_unlock(&h->lock);
}
