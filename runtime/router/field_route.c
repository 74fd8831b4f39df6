/*
 * field_route.c - per-method field-path cache and message keys for the
 * hash-on-field policy (field_route.h).
 *
 * The cache is a list of method paths (method paths come from clients: it is
 * bounded by ROUTER_FIELD_CACHE_MAX), each RESOLVING, KNOWN or FAILED. The
 * first call of a method marks it RESOLVING and asks a replica without the
 * lock held; calls of the same method that arrive meanwhile wait on the
 * condition variable. A "no" from the descriptors (no such service, method
 * or field) is remembered for good; a failure on the way (no reflection
 * service, timeout) is tried again after ROUTER_FIELD_RETRY_MS, and with no
 * healthy replica to ask, at the next call.
 */
#define _POSIX_C_SOURCE 200809L
#include "field_route.h"

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "descriptors.h"

typedef enum { ENTRY_RESOLVING, ENTRY_KNOWN, ENTRY_FAILED } entry_state;

typedef struct entry {
  struct entry *next;
  char *method;              /* "/pkg.Svc/Method" */
  entry_state state;         /* guarded by the cache lock */
  router_field_path path;    /* ENTRY_KNOWN */
  int64_t retry_at_ms;       /* ENTRY_FAILED on the way: look up again after (CLOCK_MONOTONIC); 0 = never */
  atomic_bool absent_logged; /* "field not in the message" was logged */
  atomic_bool malformed_logged; /* "message does not decode" was logged */
} entry;

struct router_field_cache {
  atomic_int refs;
  char *field;
  pthread_mutex_t lock;
  pthread_cond_t resolved;
  entry *head;
  size_t n;
  bool full_logged;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

router_field_cache *router_field_cache_new(const char *field_path) {
  if (field_path == NULL || field_path[0] == '\0') {
    return NULL;
  }
  router_field_cache *c = calloc(1, sizeof *c);
  if (c == NULL || (c->field = strdup(field_path)) == NULL) {
    free(c);
    return NULL;
  }
  atomic_init(&c->refs, 1);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->resolved, NULL);
  return c;
}

router_field_cache *router_field_cache_ref(router_field_cache *c) {
  atomic_fetch_add(&c->refs, 1);
  return c;
}

static void free_entries(entry *e) {
  while (e != NULL) {
    entry *next = e->next;
    free(e->method);
    free(e);
    e = next;
  }
}

void router_field_cache_unref(router_field_cache *c) {
  if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1) {
    return;
  }
  free_entries(c->head);
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->resolved);
  free(c->field);
  free(c);
}

const char *router_field_cache_field(const router_field_cache *c) {
  return c->field;
}

/* Asks a replica; fills e (state, path or retry time). Called without the lock. */
static void resolve(router_field_cache *c, entry *e, const router_field_source *src) {
  char err[320] = "";
  void *token = NULL;
  shimkit_channel *ch = src != NULL ? src->get(src->ctx, &token) : NULL;
  router_desc_pool *pool = router_desc_pool_new();
  router_field_path path;
  entry_state state = ENTRY_FAILED;
  int64_t retry_at = 0;
  int fetched;
  bool quiet = false;
  if (ch == NULL || pool == NULL) {
    /* No replica to ask (the call itself finds none either): ask again at the next call, quietly. */
    snprintf(err, sizeof err, "%s", ch == NULL ? "no healthy replica to ask" : "out of memory");
    retry_at = ch == NULL ? now_ms() : now_ms() + ROUTER_FIELD_RETRY_MS;
    quiet = ch == NULL;
  } else if ((fetched = router_desc_fetch(ch, e->method, pool, ROUTER_FIELD_LOOKUP_MS, err, sizeof err)) !=
             0) {
    retry_at = fetched < 0 ? now_ms() + ROUTER_FIELD_RETRY_MS : 0;
  } else if (router_desc_resolve(pool, e->method, c->field, &path, err, sizeof err) == 0) {
    state = ENTRY_KNOWN;
  }
  if (ch != NULL && src->done != NULL) {
    src->done(src->ctx, token);
  }
  router_desc_pool_free(pool);
  if (state == ENTRY_KNOWN) {
    shimkit_log(SHIMKIT_LOG_INFO, "router",
                "%s: hashing on field %s (%d step%s, from the replica's reflection)", e->method, c->field,
                path.n, path.n == 1 ? "" : "s");
  } else if (!quiet) {
    shimkit_log(SHIMKIT_LOG_WARN, "router", "%s: cannot hash on field %s: %s; calls go round robin%s",
                e->method, c->field, err, retry_at != 0 ? " (will ask again)" : "");
  }
  pthread_mutex_lock(&c->lock);
  e->state = state;
  if (state == ENTRY_KNOWN) {
    e->path = path;
  }
  e->retry_at_ms = retry_at;
  pthread_cond_broadcast(&c->resolved);
  pthread_mutex_unlock(&c->lock);
}

/* The entry of method (lock held); NULL when there is none. */
static entry *find_entry(router_field_cache *c, const char *method) {
  for (entry *e = c->head; e != NULL; e = e->next) {
    if (strcmp(e->method, method) == 0) {
      return e;
    }
  }
  return NULL;
}

/* Returns the entry of method, resolved; NULL when the cache is full or out of memory. */
static entry *lookup(router_field_cache *c, const char *method, const router_field_source *src) {
  pthread_mutex_lock(&c->lock);
  entry *e = find_entry(c, method);
  bool mine = false;
  if (e == NULL) {
    if (c->n >= ROUTER_FIELD_CACHE_MAX) {
      bool log = !c->full_logged;
      c->full_logged = true;
      pthread_mutex_unlock(&c->lock);
      if (log) {
        shimkit_log(SHIMKIT_LOG_WARN, "router",
                    "hash-field cache full (%d methods): new methods go round robin", ROUTER_FIELD_CACHE_MAX);
      }
      return NULL;
    }
    e = calloc(1, sizeof *e);
    if (e == NULL || (e->method = strdup(method)) == NULL) {
      free(e);
      pthread_mutex_unlock(&c->lock);
      return NULL;
    }
    atomic_init(&e->absent_logged, false);
    atomic_init(&e->malformed_logged, false);
    e->state = ENTRY_RESOLVING;
    e->next = c->head;
    c->head = e;
    c->n++;
    mine = true;
  } else if (e->state == ENTRY_FAILED && e->retry_at_ms > 0 && now_ms() >= e->retry_at_ms) {
    e->state = ENTRY_RESOLVING;
    mine = true;
  }
  if (mine) {
    pthread_mutex_unlock(&c->lock);
    resolve(c, e, src);
    return e;
  }
  while (e->state == ENTRY_RESOLVING) {
    pthread_cond_wait(&c->resolved, &c->lock);
  }
  pthread_mutex_unlock(&c->lock);
  return e;
}

bool router_field_cache_path(router_field_cache *c, const char *method, const router_field_source *src,
                             router_field_path *out) {
  if (c == NULL || method == NULL) {
    return false;
  }
  entry *e = lookup(c, method, src);
  if (e == NULL) {
    return false;
  }
  pthread_mutex_lock(&c->lock);
  bool known = e->state == ENTRY_KNOWN;
  if (known) {
    *out = e->path;
  }
  pthread_mutex_unlock(&c->lock);
  return known;
}

bool router_field_message_key(router_field_cache *c, const char *method, const router_field_source *src,
                              const uint8_t *msg, size_t len, router_field_value *key) {
  router_field_path path;
  if (!router_field_cache_path(c, method, src, &path)) {
    return false;
  }
  int r = router_field_key_get(msg, len, &path, key);
  if (r == 1) {
    return true;
  }
  pthread_mutex_lock(&c->lock);
  entry *e = find_entry(c, method);
  bool log = e != NULL && !atomic_exchange(r == 0 ? &e->absent_logged : &e->malformed_logged, true);
  pthread_mutex_unlock(&c->lock);
  if (log) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "%s: %s; such calls go round robin (logged once)", method,
                r == 0 ? "a request without the hash field"
                       : "a request that does not decode along the hash field");
  }
  return false;
}
