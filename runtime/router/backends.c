/*
 * backends.c - the replicas of the set: channels, health watching, picking.
 *
 * Each replica gets one channel and one thread that keeps a grpc.health.v1
 * Watch("") open: SERVING marks it healthy, anything else (NOT_SERVING
 * during a drain, the stream failing because the replica is gone) marks it
 * unhealthy; a failed Watch is retried every health_retry_ms, so a replica
 * that comes back is used again. Calls are only sent to healthy replicas.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc/health/v1/health.shimkit.h"
#include "router.h"

int router_backend_add(router *r, const char *address) {
  if (r->n_backends == ROUTER_MAX_BACKENDS) {
    return -1;
  }
  router_backend *b = &r->backends[r->n_backends];
  memset(b, 0, sizeof *b);
  b->address = strdup(address);
  b->channel = b->address != NULL ? shimkit_channel_new(address, NULL, 0) : NULL;
  if (b->channel == NULL) {
    free(b->address);
    return -1;
  }
  b->address_hash = router_hash_bytes(address, strlen(address));
  atomic_init(&b->healthy, false);
  atomic_init(&b->outstanding, 0);
  pthread_mutex_init(&b->lock, NULL);
  r->n_backends++;
  return 0;
}

typedef struct watch_arg {
  router *r;
  router_backend *b;
} watch_arg;

static void set_healthy(router_backend *b, bool healthy) {
  if (atomic_exchange(&b->healthy, healthy) != healthy) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "backend %s is %s", b->address, healthy ? "SERVING" : "not serving");
  }
}

/* Sleeps ms in small steps; false when the router is stopping. */
static bool pause_ms(router *r, int ms) {
  for (int waited = 0; waited < ms && !atomic_load(&r->stopping); waited += 50) {
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return !atomic_load(&r->stopping);
}

static void *watch_main(void *arg) {
  watch_arg *wa = arg;
  router *r = wa->r;
  router_backend *b = wa->b;
  free(wa);
  while (!atomic_load(&r->stopping)) {
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "";
    shimkit_call_options opts = {0};
    pthread_mutex_lock(&b->lock);
    b->watch = atomic_load(&r->stopping) ? NULL : grpc__health__v1__health__shimkit_watch_start(b->channel, &req, &opts);
    shimkit_client_call *call = b->watch;
    pthread_mutex_unlock(&b->lock);
    if (call == NULL) {
      break;
    }
    Grpc__Health__V1__HealthCheckResponse *reply = NULL;
    while (grpc__health__v1__health__shimkit_watch_recv(call, &reply) == 1) {
      set_healthy(b, reply->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
      protobuf_c_message_free_unpacked(&reply->base, NULL);
    }
    set_healthy(b, false); /* the stream ended: the replica is gone or draining */
    pthread_mutex_lock(&b->lock);
    b->watch = NULL;
    pthread_mutex_unlock(&b->lock);
    shimkit_client_call_finish(call);
    pause_ms(r, r->health_retry_ms);
  }
  return NULL;
}

void router_health_start(router *r) {
  for (int i = 0; i < r->n_backends; i++) {
    watch_arg *wa = malloc(sizeof *wa);
    if (wa == NULL) {
      continue;
    }
    wa->r = r;
    wa->b = &r->backends[i];
    if (pthread_create(&r->backends[i].watcher, NULL, watch_main, wa) == 0) {
      r->backends[i].watcher_started = true;
    } else {
      free(wa);
      shimkit_log(SHIMKIT_LOG_ERROR, "router", "cannot start the health watch of %s", r->backends[i].address);
    }
  }
}

void router_stop(router *r) {
  atomic_store(&r->stopping, true);
  for (int i = 0; i < r->n_backends; i++) {
    router_backend *b = &r->backends[i];
    pthread_mutex_lock(&b->lock);
    if (b->watch != NULL) {
      shimkit_client_call_cancel(b->watch);
    }
    pthread_mutex_unlock(&b->lock);
  }
  for (int i = 0; i < r->n_backends; i++) {
    router_backend *b = &r->backends[i];
    if (b->watcher_started) {
      pthread_join(b->watcher, NULL);
    }
    shimkit_log(SHIMKIT_LOG_INFO, "router", "backend %s: %ld calls, %ld failed, %ld retried elsewhere",
                b->address, atomic_load(&b->calls), atomic_load(&b->failures), atomic_load(&b->retried_away));
    shimkit_channel_free(b->channel);
    free(b->address);
    pthread_mutex_destroy(&b->lock);
  }
  r->n_backends = 0;
}

static bool was_tried(const router_backend *b, router_backend *const *tried, int n_tried) {
  for (int i = 0; i < n_tried; i++) {
    if (tried[i] == b) {
      return true;
    }
  }
  return false;
}

/* FNV-1a, 64 bits. */
uint64_t router_hash_bytes(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < len; i++) {
    h = (h ^ p[i]) * 0x100000001b3ULL;
  }
  return h;
}

/* splitmix64's finalizer: every input bit moves every output bit. */
static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

uint64_t router_hrw_score(uint64_t address_hash, const void *key, size_t key_len) {
  return mix64(router_hash_bytes(key, key_len) ^ mix64(address_hash));
}

router_backend *router_pick(router *r, router_backend *const *tried, int n_tried, const char *key, size_t key_len) {
  router_backend *best = NULL;
  uint64_t best_score = 0;
  int n = r->n_backends;
  router_policy policy = r->policy == ROUTER_HASH && key == NULL ? ROUTER_ROUND_ROBIN : r->policy;
  unsigned start = policy == ROUTER_ROUND_ROBIN ? atomic_fetch_add(&r->next, 1) : 0;
  for (int k = 0; k < n; k++) {
    router_backend *b = &r->backends[(start + (unsigned)k) % (unsigned)n];
    if (!atomic_load(&b->healthy) || was_tried(b, tried, n_tried)) {
      continue;
    }
    if (policy == ROUTER_ROUND_ROBIN) {
      best = b;
      break;
    }
    if (policy == ROUTER_HASH) {
      /* Rendezvous hashing: the healthy replica with the highest score for
       * this key. A replica that goes away moves only its own keys. */
      uint64_t score = router_hrw_score(b->address_hash, key, key_len);
      if (best == NULL || score > best_score) {
        best = b;
        best_score = score;
      }
      continue;
    }
    if (best == NULL || atomic_load(&b->outstanding) < atomic_load(&best->outstanding)) {
      best = b;
    }
  }
  if (best != NULL) {
    atomic_fetch_add(&best->outstanding, 1);
    atomic_fetch_add(&best->calls, 1);
  }
  return best;
}

void router_release(router_backend *b, shimkit_code code) {
  if (code != SHIMKIT_OK) {
    atomic_fetch_add(&b->failures, 1);
  }
  atomic_fetch_sub(&b->outstanding, 1);
}
