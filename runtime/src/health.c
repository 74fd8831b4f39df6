/*
 * health.c - the health table and grpc.health.v1.Health (Check and Watch).
 *
 * The table is a small array of (name, status) under one mutex; services are
 * few and lookups are by strcmp. Every change bumps a version and broadcasts
 * a condition variable. Watch handlers sleep on it with short timeouts, so
 * they also notice a cancelled call (the C core has no callback for that: we
 * poll shimkit_call_is_cancelled()). A drain makes every name read
 * NOT_SERVING, wakes every watcher, and makes Watch return after it told its
 * client, which keeps long-lived Watch streams from holding a graceful
 * shutdown open.
 *
 * The service is registered through the public shimkit_server_add_service()
 * with the generated handler table of grpc/health/v1/health.proto; the
 * handlers' user_data is the server, and the table is looked up per call with
 * shimkit__server_health().
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grpc/health/v1/health.shimkit.h"
#include "health.h"
#include "server_internal.h"
#include "shimkit/log.h"

/* How often a waiting Watch looks at its call's cancellation flag. */
#define WATCH_POLL_MS 100

/* Watch's answer for a name nobody set (proto enum SERVICE_UNKNOWN). */
#define HEALTH_SERVICE_UNKNOWN 3

struct health_entry {
  char *name;               /* service name, heap; "" = whole server */
  shimkit_health_status st; /* status set last (reads NOT_SERVING once draining) */
};

struct shimkit_health {
  pthread_mutex_t mu;           /* guards everything below */
  pthread_cond_t changed;       /* broadcast on every set and on drain (CLOCK_MONOTONIC) */
  struct health_entry *entries; /* the table, n used of cap */
  size_t n;                     /* entries in use */
  size_t cap;                   /* entries allocated */
  bool draining;                /* set once by drain, never cleared */
};

/* ---- the table ---------------------------------------------------------------- */

struct shimkit_health *shimkit__health_new(void) {
  struct shimkit_health *h = calloc(1, sizeof(*h));
  if (h == NULL) {
    return NULL;
  }
  pthread_condattr_t attr;
  if (pthread_condattr_init(&attr) != 0) {
    free(h);
    return NULL;
  }
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  int rc = pthread_cond_init(&h->changed, &attr);
  pthread_condattr_destroy(&attr);
  if (rc != 0) {
    free(h);
    return NULL;
  }
  if (pthread_mutex_init(&h->mu, NULL) != 0) {
    pthread_cond_destroy(&h->changed);
    free(h);
    return NULL;
  }
  return h;
}

void shimkit__health_free(struct shimkit_health *h) {
  if (h == NULL) {
    return;
  }
  for (size_t i = 0; i < h->n; i++) {
    free(h->entries[i].name);
  }
  free(h->entries);
  pthread_cond_destroy(&h->changed);
  pthread_mutex_destroy(&h->mu);
  free(h);
}

/* The entry for name, or NULL. Caller holds h->mu. */
static struct health_entry *find(struct shimkit_health *h, const char *name) {
  for (size_t i = 0; i < h->n; i++) {
    if (strcmp(h->entries[i].name, name) == 0) {
      return &h->entries[i];
    }
  }
  return NULL;
}

void shimkit__health_set(struct shimkit_health *h, const char *service, shimkit_health_status st) {
  if (h == NULL) {
    return;
  }
  if (service == NULL) {
    service = "";
  }
  size_t len = strnlen(service, SHIMKIT__HEALTH_NAME_MAX + 1);
  if (len > SHIMKIT__HEALTH_NAME_MAX) {
    shimkit_log(SHIMKIT_LOG_WARN, "health", "service name longer than %d bytes ignored",
                SHIMKIT__HEALTH_NAME_MAX);
    return;
  }
  pthread_mutex_lock(&h->mu);
  struct health_entry *e = find(h, service);
  if (e == NULL) {
    if (h->n == h->cap) {
      size_t cap = h->cap == 0 ? 8 : h->cap * 2;
      struct health_entry *grown = NULL;
      if (h->cap < SHIMKIT__HEALTH_MAX_ENTRIES) {
        grown = realloc(h->entries, cap * sizeof(*grown));
      }
      if (grown == NULL) {
        pthread_mutex_unlock(&h->mu);
        shimkit_log(SHIMKIT_LOG_WARN, "health", "health table full; status of \"%s\" not kept", service);
        return;
      }
      h->entries = grown;
      h->cap = cap;
    }
    char *name = malloc(len + 1);
    if (name == NULL) {
      pthread_mutex_unlock(&h->mu);
      shimkit_log(SHIMKIT_LOG_WARN, "health", "out of memory; status of \"%s\" not kept", service);
      return;
    }
    memcpy(name, service, len + 1);
    e = &h->entries[h->n++];
    e->name = name;
  }
  e->st = st;
  pthread_cond_broadcast(&h->changed);
  pthread_mutex_unlock(&h->mu);
}

void shimkit__health_drain(struct shimkit_health *h) {
  if (h == NULL) {
    return;
  }
  pthread_mutex_lock(&h->mu);
  h->draining = true;
  pthread_cond_broadcast(&h->changed);
  pthread_mutex_unlock(&h->mu);
}

/* What Check reports for service: -1 when unknown. Caller holds h->mu. */
static int check_locked(struct shimkit_health *h, const char *service, shimkit_health_status *st) {
  struct health_entry *e = find(h, service);
  if (e == NULL) {
    return -1;
  }
  *st = h->draining ? SHIMKIT_HEALTH_NOT_SERVING : e->st;
  return 0;
}

int shimkit__health_get(struct shimkit_health *h, const char *service, shimkit_health_status *st) {
  if (h == NULL || st == NULL) {
    return -1;
  }
  pthread_mutex_lock(&h->mu);
  int rc = check_locked(h, service != NULL ? service : "", st);
  pthread_mutex_unlock(&h->mu);
  return rc;
}

/* ---- the service ---------------------------------------------------------------- */

static struct shimkit_health *health_of(void *user_data) {
  return shimkit__server_health((shimkit_server *)user_data);
}

static shimkit_code health_check(shimkit_call *call, const Grpc__Health__V1__HealthCheckRequest *request,
                                 Grpc__Health__V1__HealthCheckResponse *response, void *user_data) {
  struct shimkit_health *h = health_of(user_data);
  const char *service = request->service != NULL ? request->service : "";
  shimkit_health_status st;
  if (h == NULL) {
    return shimkit_call_error(call, SHIMKIT_UNAVAILABLE, "health checking is not set up");
  }
  if (shimkit__health_get(h, service, &st) != 0) {
    return shimkit_call_error(call, SHIMKIT_NOT_FOUND, "unknown service \"%.200s\"", service);
  }
  response->status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
  return SHIMKIT_OK;
}

/* What Watch reports: like Check, SERVICE_UNKNOWN for unknown, all NOT_SERVING once draining. */
static int watch_value_locked(struct shimkit_health *h, const char *service) {
  shimkit_health_status st;
  if (h->draining) {
    return SHIMKIT_HEALTH_NOT_SERVING;
  }
  return check_locked(h, service, &st) == 0 ? (int)st : HEALTH_SERVICE_UNKNOWN;
}

static shimkit_code health_watch(shimkit_call *call, const Grpc__Health__V1__HealthCheckRequest *request,
                                 void *user_data) {
  struct shimkit_health *h = health_of(user_data);
  const char *service = request->service != NULL ? request->service : "";
  if (h == NULL) {
    return shimkit_call_error(call, SHIMKIT_UNAVAILABLE, "health checking is not set up");
  }
  int last_sent = -1;
  pthread_mutex_lock(&h->mu);
  for (;;) {
    int now = watch_value_locked(h, service);
    if (now != last_sent) {
      pthread_mutex_unlock(&h->mu);
      Grpc__Health__V1__HealthCheckResponse reply = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
      reply.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)now;
      if (grpc__health__v1__health__shimkit_watch_write(call, &reply) != 0) {
        return SHIMKIT_CANCELLED;
      }
      last_sent = now;
      pthread_mutex_lock(&h->mu);
      continue;
    }
    if (h->draining) {
      pthread_mutex_unlock(&h->mu);
      return shimkit_call_error(call, SHIMKIT_UNAVAILABLE, "server is shutting down");
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += (long)WATCH_POLL_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec += 1;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&h->changed, &h->mu, &until);
    /* Not under our lock: the call has its own. */
    pthread_mutex_unlock(&h->mu);
    if (shimkit_call_is_cancelled(call)) {
      return SHIMKIT_CANCELLED;
    }
    pthread_mutex_lock(&h->mu);
  }
}

static const Grpc__Health__V1__Health_Handlers health_handlers = {
    .check = health_check,
    .watch = health_watch,
};

shimkit_code shimkit__health_register(shimkit_server *srv) {
  return grpc__health__v1__health__shimkit_register(srv, &health_handlers, srv);
}
