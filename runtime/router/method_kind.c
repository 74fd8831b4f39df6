/*
 * method_kind.c - the table of method kinds (method_kind.h): an open
 * addressing hash table of method paths under one mutex, filled by one
 * background lookup at a time.
 */
#define _POSIX_C_SOURCE 200809L
#include "method_kind.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "descriptors.h"
#include "router.h"

#define SLOTS (2 * ROUTER_KIND_MAX) /* at most half full: probes stay short */

typedef enum { KIND_LOOKING, KIND_UNARY, KIND_STREAMING, KIND_FAILED } kind_state;

typedef struct entry {
  char *method;        /* NULL: free slot */
  uint64_t hash;
  kind_state state;
  int64_t retry_at_ms; /* KIND_FAILED: look up again after (CLOCK_MONOTONIC) */
} entry;

struct router_method_kinds {
  pthread_mutex_t lock;
  pthread_cond_t idle; /* signalled when the lookup ends */
  bool looking;        /* a lookup thread runs */
  size_t n;
  entry slots[SLOTS];
};

typedef struct lookup {
  router_method_kinds *k;
  entry *e; /* its slot (entries never move) */
  router_backend *b;
} lookup;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

router_method_kinds *router_method_kinds_new(void) {
  router_method_kinds *k = calloc(1, sizeof *k);
  if (k != NULL) {
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->idle, NULL);
  }
  return k;
}

void router_method_kinds_free(router_method_kinds *k) {
  if (k == NULL) {
    return;
  }
  pthread_mutex_lock(&k->lock);
  while (k->looking) {
    pthread_cond_wait(&k->idle, &k->lock);
  }
  pthread_mutex_unlock(&k->lock);
  for (size_t i = 0; i < SLOTS; i++) {
    free(k->slots[i].method);
  }
  pthread_mutex_destroy(&k->lock);
  pthread_cond_destroy(&k->idle);
  free(k);
}

/* The slot of method: its entry, or the free slot where it would go. Under the lock. */
static entry *slot_of(router_method_kinds *k, const char *method, uint64_t hash) {
  for (size_t i = 0; i < SLOTS; i++) {
    entry *e = &k->slots[(hash + i) % SLOTS];
    if (e->method == NULL || (e->hash == hash && strcmp(e->method, method) == 0)) {
      return e;
    }
  }
  return NULL; /* cannot happen: the table is never more than half full */
}

static void *lookup_main(void *arg) {
  lookup *l = arg;
  router_method_kinds *k = l->k;
  router_desc_pool *pool = router_desc_pool_new();
  char err[320] = "";
  bool client_streaming = true;
  bool server_streaming = true;
  bool known = pool != NULL &&
               router_desc_fetch(l->b->channel, l->e->method, pool, ROUTER_KIND_LOOKUP_MS, err, sizeof err) == 0 &&
               router_desc_method_streams(pool, l->e->method, &client_streaming, &server_streaming) == 0;
  router_desc_pool_free(pool);
  router_backend_unref(l->b);
  bool unary = known && !client_streaming && !server_streaming;
  if (known) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "%s is %s (from the replica's reflection)%s", l->e->method,
                unary ? "unary" : "streaming", unary ? ": forwarded in one batch each way" : "");
  } else {
    shimkit_log(SHIMKIT_LOG_DEBUG, "router", "%s: kind unknown (%s); forwarded message by message",
                l->e->method, err[0] != '\0' ? err : "no descriptor");
  }
  pthread_mutex_lock(&k->lock);
  l->e->state = !known ? KIND_FAILED : unary ? KIND_UNARY : KIND_STREAMING;
  l->e->retry_at_ms = known ? 0 : now_ms() + ROUTER_KIND_RETRY_MS;
  k->looking = false;
  pthread_cond_broadcast(&k->idle);
  pthread_mutex_unlock(&k->lock);
  free(l);
  return NULL;
}

/* A healthy replica of s, referenced (the set may go while the lookup runs); NULL when none. Not counted as
 * a call: the replica's outstanding and calls metrics are the clients' calls only. */
static router_backend *healthy_replica(router_set *s) {
  for (int i = 0; i < s->n_backends; i++) {
    router_backend *b = s->backends[i];
    if (atomic_load(&b->healthy)) {
      router_backend_ref(b);
      return b;
    }
  }
  return NULL;
}

/* Starts a lookup of e on a healthy replica of s. Under the lock; false when none could start. */
static bool start_lookup_locked(router_method_kinds *k, entry *e, router_set *s) {
  lookup *l = malloc(sizeof *l);
  router_backend *b = l != NULL ? healthy_replica(s) : NULL;
  if (b == NULL) {
    free(l);
    return false;
  }
  *l = (lookup){k, e, b};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  bool started = pthread_create(&t, &attr, lookup_main, l) == 0;
  pthread_attr_destroy(&attr);
  if (!started) {
    router_backend_unref(b);
    free(l);
    return false;
  }
  k->looking = true;
  e->state = KIND_LOOKING;
  return true;
}

bool router_method_is_unary(router_method_kinds *k, const char *method, router_set *s) {
  if (k == NULL || method == NULL) {
    return false;
  }
  uint64_t hash = router_hash_bytes(method, strlen(method));
  pthread_mutex_lock(&k->lock);
  entry *e = slot_of(k, method, hash);
  kind_state state = KIND_FAILED;
  if (e != NULL && e->method != NULL) {
    state = e->state;
    if (state == KIND_FAILED && !k->looking && now_ms() >= e->retry_at_ms) {
      start_lookup_locked(k, e, s);
    }
  } else if (e != NULL && k->n < ROUTER_KIND_MAX && !k->looking) {
    e->method = strdup(method);
    if (e->method != NULL) {
      e->hash = hash;
      e->state = KIND_FAILED;
      e->retry_at_ms = 0;
      k->n++;
      start_lookup_locked(k, e, s);
    }
  }
  pthread_mutex_unlock(&k->lock);
  return state == KIND_UNARY;
}

bool router_method_known_unary(router_method_kinds *k, const char *method) {
  if (k == NULL || method == NULL) {
    return false;
  }
  uint64_t hash = router_hash_bytes(method, strlen(method));
  pthread_mutex_lock(&k->lock);
  entry *e = slot_of(k, method, hash);
  bool unary = e != NULL && e->method != NULL && e->state == KIND_UNARY;
  pthread_mutex_unlock(&k->lock);
  return unary;
}
