/*
 * backends.c - the replicas of a set: channels, health watching, picking.
 *
 * Each replica gets one channel and one detached thread that keeps a
 * grpc.health.v1 Watch("") open: SERVING marks it healthy, anything else
 * (NOT_SERVING during a drain, the stream failing because the replica is
 * gone) marks it unhealthy; a failed Watch is retried every health_retry_ms,
 * so a replica that comes back is used again. Calls are only sent to healthy
 * replicas. Each change of a replica's health recomputes the router's own
 * health of the services its set lists (service_health.h).
 *
 * The watcher looks at its stream every WATCH_POLL_MS without waiting inside
 * gRPC (shimkit_client_call_recv_poll): a thread blocked in gRPC takes turns
 * with the router's workers at polling every socket, and each turn is a
 * thread switch on the forwarded calls' path (measured with one replica:
 * 7.2 switches per forwarded call with a blocked watcher, 1.9 without). A
 * change of health is seen at most WATCH_POLL_MS late. A replica is reference-counted (router.h): the sets
 * holding it and its watcher; the last reference frees the channel.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc/health/v1/health.shimkit.h"
#include "ip_port.h"
#include "router.h"

#define WATCH_POLL_MS 20 /* how often a watcher looks at its stream */

router_backend *router_backend_new(router *r, const char *set_name, const char *address) {
  router_backend *b = calloc(1, sizeof *b);
  if (b == NULL) {
    return NULL;
  }
  b->r = r;
  b->address = strdup(address);
  b->set_name = strdup(set_name);
  b->channel = b->address != NULL && b->set_name != NULL ? shimkit_channel_new(address, NULL, 0) : NULL;
  if (b->channel == NULL) {
    free(b->address);
    free(b->set_name);
    free(b);
    return NULL;
  }
  b->address_hash = router_hash_bytes(address, strlen(address));
  struct sockaddr_storage ss;
  socklen_t len = 0;
  b->numeric = router_socket_address(address, &ss, &len);
  atomic_init(&b->refs, 1);
  atomic_init(&b->healthy, false);
  atomic_init(&b->known, false);
  atomic_init(&b->stop, false);
  atomic_init(&b->outstanding, 0);
  atomic_init(&b->calls, 0);
  atomic_init(&b->failures, 0);
  atomic_init(&b->retried_away, 0);
  pthread_mutex_init(&b->lock, NULL);
  return b;
}

void router_backend_ref(router_backend *b) {
  atomic_fetch_add(&b->refs, 1);
}

void router_backend_unref(router_backend *b) {
  if (b == NULL || atomic_fetch_sub(&b->refs, 1) != 1) {
    return;
  }
  shimkit_log(SHIMKIT_LOG_INFO, "router", "backend %s (set %s): %ld calls, %ld failed, %ld retried elsewhere",
              b->address, b->set_name, atomic_load(&b->calls), atomic_load(&b->failures),
              atomic_load(&b->retried_away));
  shimkit_channel_free(b->channel);
  pthread_mutex_destroy(&b->lock);
  free(b->address);
  free(b->set_name);
  free(b);
}

static void set_healthy(router_backend *b, bool healthy) {
  atomic_store(&b->known, true);
  if (atomic_exchange(&b->healthy, healthy) != healthy) {
    shimkit_log(SHIMKIT_LOG_INFO, "router", "backend %s (set %s) is %s", b->address, b->set_name,
                healthy ? "SERVING" : "not serving");
    router_service_health_update(b->r); /* its set's services may have changed status */
  }
}

static bool ending(router_backend *b) {
  return atomic_load(&b->stop) || atomic_load(&b->r->stopping);
}

/* Sleeps ms in small steps; false when the watch should end. */
static bool pause_ms(router_backend *b, int ms) {
  for (int waited = 0; waited < ms && !ending(b); waited += 20) {
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return !ending(b);
}

static void *watch_main(void *arg) {
  router_backend *b = arg;
  router *r = b->r;
  while (!ending(b)) {
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "";
    shimkit_call_options opts = {0};
    pthread_mutex_lock(&b->lock);
    b->watch = ending(b) ? NULL : grpc__health__v1__health__shimkit_watch_start(b->channel, &req, &opts);
    shimkit_client_call *call = b->watch;
    pthread_mutex_unlock(&b->lock);
    if (call == NULL) {
      break;
    }
    for (;;) {
      Grpc__Health__V1__HealthCheckResponse *reply = NULL;
      int got = shimkit_client_call_recv_poll(call, (ProtobufCMessage **)&reply);
      if (got == SHIMKIT_RECV_PENDING) {
        struct timespec ts = {0, WATCH_POLL_MS * 1000000L};
        nanosleep(&ts, NULL); /* cancelled by router_backend_stop: the next poll ends */
        continue;
      }
      if (got != 1) {
        break;
      }
      set_healthy(b, reply->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
      protobuf_c_message_free_unpacked(&reply->base, NULL);
    }
    set_healthy(b, false); /* the stream ended: the replica is gone or draining */
    pthread_mutex_lock(&b->lock);
    b->watch = NULL;
    pthread_mutex_unlock(&b->lock);
    shimkit_client_call_finish(call);
    pause_ms(b, r->health_retry_ms);
  }
  atomic_store(&b->healthy, false);
  router_backend_unref(b);
  pthread_mutex_lock(&r->watch_lock);
  r->n_watchers--;
  pthread_cond_broadcast(&r->watch_done);
  pthread_mutex_unlock(&r->watch_lock);
  return NULL;
}

void router_backend_watch(router_backend *b) {
  router *r = b->r;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  router_backend_ref(b);
  pthread_mutex_lock(&r->watch_lock);
  r->n_watchers++;
  pthread_mutex_unlock(&r->watch_lock);
  pthread_t t;
  if (pthread_create(&t, &attr, watch_main, b) != 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "router", "cannot start the health watch of %s", b->address);
    pthread_mutex_lock(&r->watch_lock);
    r->n_watchers--;
    pthread_mutex_unlock(&r->watch_lock);
    router_backend_unref(b);
  }
  pthread_attr_destroy(&attr);
}

void router_backend_stop(router_backend *b) {
  atomic_store(&b->stop, true);
  pthread_mutex_lock(&b->lock);
  if (b->watch != NULL) {
    shimkit_client_call_cancel(b->watch);
  }
  pthread_mutex_unlock(&b->lock);
}

bool router_set_has_healthy(const router_set *s) {
  for (int i = 0; i < s->n_backends; i++) {
    if (atomic_load(&s->backends[i]->healthy)) {
      return true;
    }
  }
  return false;
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

router_backend *router_pick(router_set *s, router_backend *const *tried, int n_tried, bool borrow,
                            const char *key, size_t key_len) {
  router_backend *best = NULL;
  uint64_t best_score = 0;
  int n = s->n_backends;
  router_policy policy = s->spec.policy == ROUTER_HASH && key == NULL ? ROUTER_ROUND_ROBIN : s->spec.policy;
  /* Round robin starts at the set's turn; so does least outstanding, so that
   * ties (an idle set: every replica at 0) rotate instead of all going to
   * the first replica. A borrow looks without taking the turn. */
  unsigned start = policy == ROUTER_HASH ? 0
                   : borrow             ? atomic_load(&s->next)
                                        : atomic_fetch_add(&s->next, 1);
  for (int k = 0; k < n; k++) {
    router_backend *b = s->backends[(start + (unsigned)k) % (unsigned)n];
    if (!atomic_load(&b->healthy) || was_tried(b, tried, n_tried)) {
      continue;
    }
    if (policy == ROUTER_ROUND_ROBIN) {
      best = b;
      if (k > 0 && !borrow) {
        /* The turns of the k replicas passed over are used up too: else the
         * replica after an unhealthy one would get its turn twice. */
        atomic_fetch_add(&s->next, (unsigned)k);
      }
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
    if (!borrow) {
      atomic_fetch_add(&best->calls, 1);
    }
  }
  return best;
}

void router_release(router_backend *b, shimkit_code code) {
  if (code != SHIMKIT_OK) {
    atomic_fetch_add(&b->failures, 1);
  }
  atomic_fetch_sub(&b->outstanding, 1);
}
