/*
 * router.h - shimkit_router's shared state: sets of replicas, how a call
 * picks a set and a replica, holds, and the admin side that changes them.
 *
 * The router is a plain shimkit server with a raw catch-all handler
 * (shimkit/raw.h): its own services (health, reflection, RouterAdmin)
 * answer locally, every other method is forwarded byte for byte
 * (forward.c) to a replica of a set (sets.c), picked by the set's policy
 * (backends.c, which also watches each replica's grpc.health.v1 status).
 * Only libshimkit's public API is used.
 *
 * Thread safety: the sets live in an immutable, reference-counted snapshot
 * (router_config). A call takes a reference to the current one for its
 * whole life; an admin change builds a new snapshot and swaps it in under
 * r->cfg_lock. Replicas (router_backend) are reference-counted too: a
 * replica that stays in a replaced set is the same object (same channel,
 * same health watch, same counters); one that left has its watch stopped at
 * once and is freed when the last snapshot (hence the last call) using it
 * is gone. What the router's health says of each routed service follows
 * its replicas' health (service_health.h).
 */
#ifndef SHIMKIT_ROUTER_H
#define SHIMKIT_ROUTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shimkit/shimkit.h>

#include "dns_table.h"
#include "service_health.h"
#include "spec.h"

#define ROUTER_MAX_ATTEMPTS 3 /* tries of one call that could not connect (the first and two retries) */
#define ROUTER_MAX_ASKED 8    /* replicas a retry_not_found call is asked of (libshimkit's attempts per call) */
#define ROUTER_MAX_HOLDS 64   /* services held at once */
#define ROUTER_HOLD_DEFAULT_MS 60000
#define ROUTER_FIRST_HEALTH_MS 2000 /* how long a set change waits for its new replicas' first health */
#define ROUTER_FIRST_RESOLVE_MS                                                                              \
  3000 /* how long a set change waits for its new dns: names' first resolution */
#define ROUTER_RESOLVE_INTERVAL_MS 5000 /* default --resolve-interval-ms */

typedef struct router router;

/* One replica of one set. */
typedef struct router_backend {
  atomic_int refs;            /* sets (of any snapshot) holding it, plus its watcher */
  router *r;                  /* the router it belongs to */
  char *address;              /* "127.0.0.1:50051" as given, or as a dns: backend resolved */
  char *set_name;             /* the set it belongs to (metrics labels) */
  uint64_t address_hash;      /* its identity for rendezvous hashing */
  bool numeric;               /* address is IP:PORT, [IPv6]:PORT or unix:PATH (the relay connects to it; names it leaves
                                 to the channel, which resolves them) */
  shimkit_channel *channel;   /* shared by every call to it */
  atomic_bool healthy;        /* its Watch says SERVING */
  atomic_bool known;          /* its first Watch answered (or failed) */
  atomic_bool stop;           /* left its set (or the router stops): the watch ends */
  atomic_int outstanding;     /* calls forwarded to it and not finished */
  atomic_long calls;          /* calls forwarded */
  atomic_long failures;       /* of those, ended with a status other than OK */
  atomic_long retried_away;   /* attempts that failed to connect and were retried */
  pthread_mutex_t lock;       /* guards watch */
  shimkit_client_call *watch; /* the Watch in progress, to cancel at stop */
} router_backend;

/* One set in a snapshot: its spec and its replicas. */
typedef struct router_set {
  router_set_spec spec;      /* as applied (weight included) */
  router_backend **backends; /* n_backends replicas: the fixed backends and the addresses the dns:
                                ones resolved to (router_dns_expand), in spec order */
  int n_backends;
  int *origin;       /* per replica: the index in spec.backends of the entry it comes from */
  char **unresolved; /* its dns: backends with no address yet ("dns:H:P has not resolved: why") */
  int n_unresolved;
  atomic_uint next;                       /* round-robin cursor */
  struct router_field_cache *field_cache; /* spec.hash_field: its per-method field paths (field_route.h),
                                             learned afresh for each snapshot; else NULL */
} router_set;

/* The sets that may serve one service (or the catch-all sets), with the
 * smooth-weighted-round-robin state of their weights. */
typedef struct router_group {
  char *service; /* NULL: the catch-all group */
  int *sets;     /* indexes into router_config.sets */
  int n_sets;
  int64_t *current;     /* SWRR state, one per entry of sets */
  pthread_mutex_t lock; /* guards current */
} router_group;

/* An immutable snapshot of every set (weights included). */
typedef struct router_config {
  atomic_int refs; /* the router's, plus one per call using it */
  router_set *sets;
  int n_sets;
  router_group *groups; /* one per service some set lists, then the catch-all */
  int n_groups;
} router_config;

/* A held service: its new calls wait (parked in libshimkit) until released or until. */
typedef struct router_hold {
  char *service;
  int64_t until_ms; /* monotonic ms when the hold lapses by itself */
  int waiting;      /* calls waiting now */
  uint64_t id;      /* this hold (router_hold_check), never 0 */
} router_hold;

struct router {
  /* options */
  int health_retry_ms;    /* pause before re-watching a replica that is gone */
  const char *state_path; /* --state FILE, or NULL */
  const char *sets_path;  /* --sets-file FILE (read at start, never written), or NULL */
  bool access_log;        /* one line per forwarded call (off with --no-access-log) */
  bool unary_plan;        /* forward unary methods in one batch each way (off with --no-unary-plan) */
  struct router_method_kinds *kinds; /* which methods are unary (method_kind.h); NULL: none known */
  /* sets */
  pthread_mutex_t cfg_lock;   /* guards config (the pointer) */
  router_config *config;      /* the current snapshot */
  pthread_mutex_t admin_lock; /* serialises admin changes and state writes */
  atomic_bool stopping;       /* teardown began: watchers end */
  pthread_mutex_t watch_lock; /* guards n_watchers */
  pthread_cond_t watch_done;  /* signalled when a watcher ends */
  int n_watchers;             /* health-watch threads running */
  /* dns: backends (discover.c) */
  int resolve_interval_ms; /* --resolve-interval-ms */
  router_resolver resolve; /* router_resolve_system, or a test's */
  void *resolve_ctx;
  pthread_mutex_t dns_lock;  /* guards dns, dns_kick, dns_stop; never held by a forwarded call */
  pthread_cond_t dns_kicked; /* (CLOCK_MONOTONIC) wakes the resolver thread early */
  pthread_cond_t dns_done;   /* signalled after each resolution */
  router_dns_table dns;      /* every dns: name with its last good addresses */
  bool dns_kick;             /* resolve now (new names) */
  bool dns_stop;             /* the resolver thread returns */
  bool dns_on;               /* it runs */
  pthread_t dns_thread;
  /* holds */
  pthread_mutex_t hold_lock; /* guards holds, hold_ids and the timer fields */
  pthread_cond_t
      hold_changed; /* (CLOCK_MONOTONIC) signalled when a hold is set and at stop: the timer looks */
  router_hold holds[ROUTER_MAX_HOLDS];
  int n_holds;
  uint64_t hold_ids;             /* the last hold's id */
  atomic_int n_holds_seen;       /* n_holds, read without the lock by every call */
  _Atomic(shimkit_server *) srv; /* the server whose parked calls a release resumes; NULL when none */
  pthread_t timer;               /* hold_timer: resumes the calls of holds that lapse */
  bool timer_on;                 /* it runs */
  bool timer_stop;               /* tells it to return */
  /* the routed services' health (service_health.h) */
  router_service_health svc_health;
};

/* ---- router.c / sets.c: the router and its snapshots ------------------------- */

/* Initialises r (no sets). */
void router_init(router *r);
/* Stops every watch, waits for the watchers and frees every set. */
void router_stop(router *r);
/* Stops the watches of cfg's replicas (NULL: none) and waits until no watcher runs. */
void router_stop_watches(router *r, router_config *cfg);

/* The current snapshot, with a reference the caller drops with router_config_unref. */
router_config *router_config_get(router *r);
void router_config_unref(router_config *cfg);

/*
 * Replaces every set by specs (n entries, valid: spec.h). Replicas of a set
 * of the same name that keep their address keep their object (channel,
 * watch, counters); new ones get a watch, and the new snapshot goes live
 * once each of them has its first health answer (at most
 * ROUTER_FIRST_HEALTH_MS), so that a replaced set never has a moment with
 * no replica known to be healthy; the replicas that left have their
 * watches stopped.
 * 0, or -1 when out of memory (nothing changed). Caller holds admin_lock.
 */
int router_config_replace(router *r, const router_set_spec *specs, int n);

/* Copies of the specs of the current snapshot (router_specs_free); -1 when out of memory. */
int router_config_specs(router *r, router_set_spec **specs, int *n);

/*
 * The set a new call of service (len bytes; "pkg.Svc") goes to: among the
 * sets listing it (else the catch-all sets), those with a weight and a
 * healthy replica, by smooth weighted round robin; else any of them with a
 * healthy replica; else the first of them (its pick then fails); NULL when
 * no set serves the service.
 */
router_set *router_choose_set(router_config *cfg, const char *service, size_t len);
/* The group whose sets serve service (len bytes): its own, else the catch-all; NULL when none. */
router_group *router_find_group(router_config *cfg, const char *service, size_t len);

/* ---- discover.c: dns: backends ------------------------------------------------ */

/* Starts the resolver thread (resolves every dns: name now, then every
 * resolve_interval_ms, and swaps in new snapshots when addresses change). 0, or -1. */
int router_dns_start(router *r);
/* Stops it (waits for it). Idempotent. */
void router_dns_stop(router *r);
/*
 * Makes sure the dns: names of specs (n) are known and resolved once:
 * new names are resolved by the resolver thread now, and this waits (at most
 * ROUTER_FIRST_RESOLVE_MS, without holding dns_lock) for their first
 * answer. Caller holds admin_lock (so the thread cannot forget them before
 * the change that uses them is swapped in).
 */
void router_dns_prime(router *r, const router_set_spec *specs, int n);

/* ---- backends.c: replicas ----------------------------------------------------- */

/* A new replica with its channel, watch not started; NULL when out of memory. */
router_backend *router_backend_new(router *r, const char *set_name, const char *address);
void router_backend_ref(router_backend *b);
void router_backend_unref(router_backend *b);
/* Starts its health-watch thread (which holds a reference). */
void router_backend_watch(router_backend *b);
/* Ends its watch (it left its set or the router stops); calls on it go on. */
void router_backend_stop(router_backend *b);
bool router_set_has_healthy(const router_set *s);

/*
 * A healthy replica of set s other than those in tried (n_tried entries),
 * counted as outstanding; NULL when there is none. With ROUTER_HASH, key
 * (key_len bytes) is the call's hash key (the hash_key metadata value, or the
 * hash_field value the caller extracted); with key NULL it picks as
 * round_robin does. A borrow (the router's own call, borrow.c) does not
 * take a round-robin turn, so the clients' calls keep their even shares.
 */
router_backend *router_pick(router_set *s, router_backend *const *tried, int n_tried, bool borrow,
                            const char *key, size_t key_len);
/* Rendezvous (highest random weight) score of a replica for a key. */
uint64_t router_hrw_score(uint64_t address_hash, const void *key, size_t key_len);
uint64_t router_hash_bytes(const void *data, size_t len);
/* The end of one attempt on b: outstanding back down, a failure counted. */
void router_release(router_backend *b, shimkit_code code);

/* ---- hold.c -------------------------------------------------------------------- */

/* Holds (hold true) or releases service (the calls waiting on it resume);
 * returns the calls waiting on it now, or -1 when no hold is left. */
int router_hold_set(router *r, const char *service, bool hold, uint32_t timeout_ms);
/* When service (len bytes) is held: counts one more call waiting on the hold
 * and returns the hold's id (for router_hold_leave); else 0. Never blocks. */
uint64_t router_hold_check(router *r, const char *service, size_t len);
/* A call counted by router_hold_check (id) waits no more. */
void router_hold_leave(router *r, uint64_t id);
/* Starts the thread that resumes srv's parked calls when a hold lapses
 * (releases resume them too); 0, or -1 (logged). */
int router_hold_start(router *r, shimkit_server *srv);
/* Stops it (before srv is freed); nothing is resumed after. Idempotent. */
void router_hold_stop(router *r);
/* Copies of the held services' names (free each and the array); -1 when out of memory. */
int router_hold_list(router *r, char ***names, int *n);

/* ---- admin.c: the RouterAdmin service ------------------------------------------ */

shimkit_code router_admin_register(router *r, shimkit_server *srv);
/* Applies the state file's sets at start (or, when absent, specs). 0, or -1 (logged). */
int router_load_state(router *r, const router_set_spec *fallback, int n_fallback);

/* ---- router_metrics.c ------------------------------------------------------------ */

/* Adds the per-backend series to metrics' /metrics. */
shimkit_code router_metrics_register(router *r, shimkit_metrics *metrics);

/* ---- borrow.c: a replica for the router's own questions ------------------------- */

/* A healthy replica of s (not in tried), round robin, counted as outstanding
 * but not as a forwarded call; NULL when there is none. Give it back after. */
router_backend *router_borrow(router_set *s, router_backend *const *tried, int n_tried);
void router_give_back(router_backend *b);

/* ---- forward.c and hash_field.c -------------------------------------------------- */

/* Makes srv forward every call no service of its own declares (shimkit/forward.h). */
shimkit_code router_forward_install(router *r, shimkit_server *srv);

/*
 * The hash key of a call to a set whose policy hashes on a request field
 * (spec.hash_field): the value of that field in the first request message
 * (msg, len bytes) of method ("/pkg.Svc/M"), the field path learned from a
 * healthy replica of s the first time (field_route.h). 1 with *key
 * (malloc'd, the caller frees it) and *key_len; 0 when there is none (the
 * call then goes round robin; the reason is logged once per method).
 */
int router_field_key(router *r, const router_set *s, const char *method, const uint8_t *msg, size_t len,
                     char **key, size_t *key_len);

#endif /* SHIMKIT_ROUTER_H */
