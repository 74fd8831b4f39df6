/*
 * service_health.h - the router's grpc.health.v1 status of each routed
 * service, derived from its replicas.
 *
 * A proxy's health is asked per service (a Kubernetes readiness probe
 * `grpc_health_probe -service=pkg.Svc` on the router's address): the
 * answer must say whether a call of pkg.Svc sent there now would reach a
 * healthy replica. So for every service some set lists, the router
 * publishes, through libshimkit's health table (shimkit_server_set_health),
 * SERVING while at least one replica of at least one set listing it is
 * healthy (its own Watch says SERVING: such a set gets calls, router.h's
 * router_choose_set, weight 0 included), else NOT_SERVING. A name no set
 * lists any more stays NOT_SERVING (libshimkit's table cannot forget a
 * name). "" (the router itself) and the router's own services are
 * libshimkit's as before and never touched here; the catch-all sets serve
 * no name known in advance, so they publish nothing.
 *
 * Recomputed, from the current snapshot, after every change of a replica's
 * health (backends.c) and every snapshot swap (sets.c: admin changes, the
 * state file at start, dns: answers); each recompute publishes only what
 * changed, and libshimkit tells the Watch streams.
 *
 * Thread safety: one mutex (router_service_health.lock) serialises the
 * recomputes, which read the replicas' atomic health flags after taking it,
 * so the last recompute always sees the last change. It is taken before
 * cfg_lock (router_config_get) and libshimkit's health lock, never under
 * either, and is never held by a forwarded call.
 */
#ifndef SHIMKIT_ROUTER_SERVICE_HEALTH_H
#define SHIMKIT_ROUTER_SERVICE_HEALTH_H

#include <pthread.h>
#include <stdbool.h>

#include <shimkit/shimkit.h>

/* Names the router publishes at most (libshimkit's table holds 4096 in all, the router's own included). */
#define ROUTER_HEALTH_MAX_NAMES 4000

struct router;
struct router_config;

/* Where a status goes: shimkit_server_set_health in the program, a recorder in the unit test. */
typedef void (*router_health_publish)(void *ctx, const char *service, bool serving);

/* One published name. */
typedef struct router_health_entry {
  char *name;   /* full service name, owned */
  bool serving; /* what was published last */
  bool want;    /* scratch of one recompute */
} router_health_entry;

typedef struct router_service_health {
  pthread_mutex_t lock;          /* guards everything below */
  router_health_publish publish; /* NULL: nothing is published (before start, after the drain) */
  void *publish_ctx;
  router_health_entry *entries; /* every name published so far, n of them */
  int n;
  bool full_logged; /* ROUTER_HEALTH_MAX_NAMES reached, said once */
} router_service_health;

/* Initialises h (publishing nothing). */
void router_service_health_init(router_service_health *h);
/* Stops publishing and frees the names. */
void router_service_health_clear(router_service_health *h);

/* Publishes into srv's health table from now on, and every status now. */
void router_service_health_start(struct router *r, shimkit_server *srv);
/* The same through fn(ctx, ...) (the unit test). */
void router_service_health_start_with(struct router *r, router_health_publish fn, void *ctx);
/* Publishes nothing any more (before srv is freed). Idempotent. */
void router_service_health_stop(struct router *r);

/* Recomputes every routed service's status from the current snapshot and
 * publishes the changes. Never call it holding cfg_lock. */
void router_service_health_update(struct router *r);

/* Whether a set of cfg listing service (a full name) has a healthy replica. */
bool router_service_serving(const struct router_config *cfg, const char *service);

#endif /* SHIMKIT_ROUTER_SERVICE_HEALTH_H */
