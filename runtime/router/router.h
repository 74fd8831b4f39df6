/*
 * router.h - shimkit_router's shared state: the backend set and how a call
 * picks a replica.
 *
 * The router is a plain shimkit server with a raw catch-all handler
 * (shimkit/raw.h): its own services (health, reflection) answer locally,
 * every other method is forwarded byte for byte (forward.c) to a replica
 * picked by backends.c, which also watches each replica's grpc.health.v1
 * status. Only libshimkit's public API is used.
 */
#ifndef SHIMKIT_ROUTER_H
#define SHIMKIT_ROUTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shimkit/shimkit.h>

#define ROUTER_MAX_BACKENDS 64 /* --backend may be given this many times */
#define ROUTER_MAX_ATTEMPTS 3  /* tries of one call (the first and two retries) */

typedef enum router_policy { ROUTER_ROUND_ROBIN = 0, ROUTER_LEAST_OUTSTANDING, ROUTER_HASH } router_policy;

/* One replica. */
typedef struct router_backend {
  char *address;               /* "127.0.0.1:50051" as given */
  uint64_t address_hash;       /* its identity for rendezvous hashing */
  shimkit_channel *channel;    /* shared by every call to it */
  atomic_bool healthy;         /* its Watch says SERVING */
  atomic_int outstanding;      /* calls forwarded to it and not finished */
  atomic_long calls;           /* calls forwarded (metrics) */
  atomic_long failures;        /* of those, ended with a status other than OK */
  atomic_long retried_away;    /* attempts that failed before a handler and were retried */
  pthread_t watcher;           /* its health-watch thread */
  bool watcher_started;        /* watcher is joinable */
  pthread_mutex_t lock;        /* guards watch */
  shimkit_client_call *watch;  /* the Watch in progress, to cancel at stop */
} router_backend;

typedef struct router {
  router_backend backends[ROUTER_MAX_BACKENDS]; /* the set, in --backend order */
  int n_backends;                               /* entries used */
  router_policy policy;                         /* how to pick */
  const char *hash_key;                         /* ROUTER_HASH: the request metadata key hashed on, or NULL */
  const char *hash_field;                       /* ROUTER_HASH: the request field path hashed on, or NULL */
  struct router_field_cache *field_cache;       /* with hash_field: its per-method paths (field_route.h) */
  atomic_uint next;                             /* round-robin cursor */
  atomic_bool stopping;                         /* teardown began: watchers end */
  int health_retry_ms;                          /* pause before re-watching a replica that is gone */
} router;

/* backends.c */
int router_backend_add(router *r, const char *address);
void router_health_start(router *r);
void router_stop(router *r);
/* A healthy replica other than those in tried (n_tried entries), counted as
 * outstanding; NULL when there is none. ROUTER_HASH: key (key_len bytes) is
 * the request's --hash-key value; with key NULL (absent) it picks as
 * round_robin does. */
router_backend *router_pick(router *r, router_backend *const *tried, int n_tried, const char *key, size_t key_len);
/* Rendezvous (highest random weight) score of a replica for a key. */
uint64_t router_hrw_score(uint64_t address_hash, const void *key, size_t key_len);
uint64_t router_hash_bytes(const void *data, size_t len);
void router_release(router_backend *b, shimkit_code code);

/* borrow.c: a healthy replica (not in tried) for the router's own questions
 * (reflection), round robin; NULL when there is none. Give it back after. */
router_backend *router_borrow(router *r, router_backend *const *tried, int n_tried);
void router_give_back(router_backend *b);

/* hash_field.c: reads the call's first request message and finds its
 * hash_field key (field_route.h), asking a healthy replica for the method's
 * descriptors the first time. */
struct router_first_message;
void router_hash_field_first(router *r, shimkit_call *call, struct router_first_message *first);

/* forward.c: the raw handler; user_data is the router */
shimkit_code router_forward(shimkit_call *call, void *user_data);

#endif /* SHIMKIT_ROUTER_H */
