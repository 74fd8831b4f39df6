/*
 * server.c - shimkit_server: options, services, interceptors, start, wait,
 * drain and free.
 *
 * The life cycle is NEW -> RUNNING -> DRAINING -> STOPPED. Listeners
 * (listener.c), services and interceptors are added while NEW; start
 * registers every method and posts the requests (requests.c) and starts the
 * worker pool (worker.c). The drain, run once by whoever gets there first
 * (shimkit_server_wait or shimkit_server_free), follows grpc-core note 4:
 *   1. health goes NOT_SERVING everywhere and Watch streams end; new calls
 *      are still served for drain_delay_ms, so that routers watching health
 *      stop sending before calls are refused (a call gRPC core receives
 *      after step 2 begins is cancelled, not refused);
 *   2. no request is posted any more; grpc_server_shutdown_and_notify: no
 *      new calls, pending requests fail and their slots come back;
 *   3. in-flight calls get drain_grace_ms to finish (live_calls reaches 0);
 *   4. then grpc_server_cancel_all_calls and every call reads as cancelled;
 *   5. once no call is live and no slot is out, the shared queue is shut
 *      down (nothing can start a batch on it) and the workers, seeing
 *      GRPC_QUEUE_SHUTDOWN, exit;
 *   6. the shutdown tag is taken, then the server, queues and gRPC go.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health.h"
#include "reflection.h"
#include "server_core.h"
#include "server_internal.h"
#include "shimkit/log.h"
#include "shimkit/server.h"

#define DEFAULT_WORKERS 64 /* the most; threads start on demand (worker.c) */
#define DEFAULT_MAX_BYTES (4 * 1024 * 1024)
#define DEFAULT_GRACE_MS 10000

void shimkit_server_options_init(shimkit_server_options *opts) {
  if (opts == NULL) {
    return;
  }
  memset(opts, 0, sizeof *opts);
  opts->worker_threads = DEFAULT_WORKERS;
  opts->max_receive_bytes = DEFAULT_MAX_BYTES;
  opts->max_send_bytes = DEFAULT_MAX_BYTES;
  opts->drain_grace_ms = DEFAULT_GRACE_MS;
  opts->handle_signals = true;
  opts->enable_health = true;
  opts->enable_reflection = true;
  opts->access_log = true;
}

static bool options_valid(const shimkit_server_options *o) {
  if (o->worker_threads < 1 || o->worker_threads > SHIMKIT__MAX_WORKERS) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "worker_threads must be 1..%d, not %d", SHIMKIT__MAX_WORKERS,
                o->worker_threads);
    return false;
  }
  if (o->max_receive_bytes < 1 || o->max_send_bytes < 1) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "max_receive_bytes and max_send_bytes must be positive (%d, %d)",
                o->max_receive_bytes, o->max_send_bytes);
    return false;
  }
  if (o->drain_delay_ms < 0 || o->drain_delay_ms > 3600000) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "drain_delay_ms must be 0..3600000 (%d)", o->drain_delay_ms);
    return false;
  }
  if (o->drain_grace_ms < 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "drain_grace_ms must not be negative (%d)", o->drain_grace_ms);
    return false;
  }
  return true;
}

/* ---- new -------------------------------------------------------------------- */

shimkit_server *shimkit_server_new(const shimkit_server_options *opts) {
  shimkit_server_options defaults;
  if (opts == NULL) {
    shimkit_server_options_init(&defaults);
    opts = &defaults;
  }
  if (!options_valid(opts)) {
    return NULL;
  }
  shimkit_server *srv = calloc(1, sizeof *srv);
  if (srv == NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "out of memory creating a server");
    return NULL;
  }
  srv->opts = *opts;
  pthread_mutex_init(&srv->lock, NULL);
  pthread_cond_init(&srv->cond, NULL);
  atomic_init(&srv->cancelling, false);
  pthread_mutex_init(&srv->park_lock, NULL);
  atomic_init(&srv->resume_gen, 0);
  srv->services = calloc(SHIMKIT__MAX_SERVICES, sizeof *srv->services);
  srv->interceptors = calloc(SHIMKIT__MAX_INTERCEPTORS, sizeof *srv->interceptors);
  srv->health = shimkit__health_new();
  if (srv->services == NULL || srv->interceptors == NULL || srv->health == NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "out of memory creating a server");
    goto fail;
  }

  grpc_init();
  srv->grpc_ref = true;
  grpc_arg args[3];
  memset(args, 0, sizeof args);
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = opts->max_receive_bytes;
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
  args[1].value.integer = opts->max_send_bytes;
  /* Without this, two servers could bind the same port and share its traffic silently. */
  args[2].type = GRPC_ARG_INTEGER;
  args[2].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
  args[2].value.integer = 0;
  grpc_channel_args channel_args = {sizeof args / sizeof args[0], args};
  srv->core = grpc_server_create(&channel_args, NULL);
  srv->ctrl_cq = grpc_completion_queue_create_for_next(NULL);
  if (srv->core == NULL || srv->ctrl_cq == NULL) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "gRPC could not create a server");
    goto fail;
  }
  grpc_server_register_completion_queue(srv->core, srv->ctrl_cq, NULL);

  if (opts->enable_health && shimkit__health_register(srv) != SHIMKIT_OK) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "cannot register the health service");
    goto fail;
  }
  if (opts->enable_reflection && shimkit__reflection_register(srv) != SHIMKIT_OK) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "cannot register the reflection service");
    goto fail;
  }
  return srv;

fail:
  shimkit_server_free(srv);
  return NULL;
}

/* ---- services and interceptors ------------------------------------------------ */

static bool service_name_is(const shimkit_service_desc *d, const char *name, size_t len) {
  return strncmp(d->full_name, name, len) == 0 && d->full_name[len] == '\0';
}

shimkit_code shimkit_server_add_service(shimkit_server *srv, const shimkit_service_desc *service,
                                        const void *handlers, void *user_data) {
  if (srv == NULL || service == NULL || handlers == NULL) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  if (service->abi_version != SHIMKIT_ABI_VERSION) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server",
                "service table %s is from a generator of ABI %u; this runtime is ABI %d: regenerate",
                service->full_name != NULL ? service->full_name : "?", service->abi_version,
                SHIMKIT_ABI_VERSION);
    return SHIMKIT_FAILED_PRECONDITION;
  }
  if (service->full_name == NULL || service->full_name[0] == '\0' ||
      (service->n_methods > 0 && service->methods == NULL)) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  for (size_t i = 0; i < service->n_methods; i++) {
    const shimkit_method_desc *m = &service->methods[i];
    if (m->path == NULL || m->request == NULL || m->response == NULL || m->invoke == NULL ||
        (i > 0 && strcmp(service->methods[i - 1].path, m->path) >= 0)) {
      shimkit_log(SHIMKIT_LOG_ERROR, "server",
                  "service table %s is malformed at method %zu (unsorted or incomplete)", service->full_name,
                  i);
      return SHIMKIT_INVALID_ARGUMENT;
    }
  }
  pthread_mutex_lock(&srv->lock);
  shimkit_code rc = SHIMKIT_OK;
  if (srv->state != SHIMKIT__SERVER_NEW) {
    rc = SHIMKIT_FAILED_PRECONDITION;
  } else if (srv->n_services == SHIMKIT__MAX_SERVICES) {
    rc = SHIMKIT_RESOURCE_EXHAUSTED;
  } else {
    for (size_t i = 0; i < srv->n_services; i++) {
      if (strcmp(srv->services[i].desc->full_name, service->full_name) == 0) {
        rc = SHIMKIT_ALREADY_EXISTS;
        break;
      }
    }
  }
  if (rc == SHIMKIT_OK) {
    shimkit__service_entry *e = &srv->services[srv->n_services++];
    e->desc = service;
    e->handlers = handlers;
    e->user_data = user_data;
  }
  pthread_mutex_unlock(&srv->lock);
  if (rc != SHIMKIT_OK) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "cannot add service %s: %s", service->full_name,
                rc == SHIMKIT_ALREADY_EXISTS       ? "already added"
                : rc == SHIMKIT_RESOURCE_EXHAUSTED ? "too many services"
                                                   : "server already started");
  }
  return rc;
}

const shimkit__service_entry *shimkit__server_find_method(const shimkit_server *srv, const char *path,
                                                          const shimkit_method_desc **method,
                                                          bool *service_known) {
  *method = NULL;
  *service_known = false;
  /* "/pkg.Service/Method": the service name sits between the two slashes. */
  if (path == NULL || path[0] != '/') {
    return NULL;
  }
  const char *name = path + 1;
  const char *slash = strchr(name, '/');
  if (slash == NULL || slash == name) {
    return NULL;
  }
  size_t len = (size_t)(slash - name);
  /* Services are few and fixed after start: a linear scan, no lock needed. */
  for (size_t i = 0; i < srv->n_services; i++) {
    const shimkit__service_entry *e = &srv->services[i];
    if (service_name_is(e->desc, name, len)) {
      *service_known = true;
      *method = shimkit_service_find_method(e->desc, path);
      return *method != NULL ? e : NULL;
    }
  }
  return NULL;
}

size_t shimkit__server_service_count(const shimkit_server *srv) {
  return srv != NULL ? srv->n_services : 0;
}

const shimkit_service_desc *shimkit__server_service_at(const shimkit_server *srv, size_t i) {
  if (srv == NULL || i >= srv->n_services) {
    return NULL;
  }
  return srv->services[i].desc;
}

struct shimkit_health *shimkit__server_health(shimkit_server *srv) {
  return srv != NULL ? srv->health : NULL;
}

shimkit_code shimkit_server_add_interceptor(shimkit_server *srv, shimkit_interceptor_fn fn, void *user_data) {
  if (srv == NULL || fn == NULL) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  pthread_mutex_lock(&srv->lock);
  shimkit_code rc = SHIMKIT_OK;
  if (srv->state != SHIMKIT__SERVER_NEW) {
    rc = SHIMKIT_FAILED_PRECONDITION;
  } else if (srv->n_interceptors == SHIMKIT__MAX_INTERCEPTORS) {
    rc = SHIMKIT_RESOURCE_EXHAUSTED;
  } else {
    srv->interceptors[srv->n_interceptors].fn = fn;
    srv->interceptors[srv->n_interceptors].user_data = user_data;
    srv->n_interceptors++;
  }
  pthread_mutex_unlock(&srv->lock);
  return rc;
}

shimkit_code shimkit_server_set_health(shimkit_server *srv, const char *service,
                                       shimkit_health_status status) {
  if (srv == NULL || service == NULL || (int)status < SHIMKIT_HEALTH_UNKNOWN ||
      status > SHIMKIT_HEALTH_NOT_SERVING) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  shimkit__health_set(srv->health, service, status);
  return SHIMKIT_OK;
}

/* ---- live calls ----------------------------------------------------------------- */

void shimkit__server_call_started(shimkit_server *srv, bool holds_worker) {
  pthread_mutex_lock(&srv->lock);
  srv->live_calls++;
  srv->held_calls += holds_worker ? 1 : 0;
  pthread_mutex_unlock(&srv->lock);
}

void shimkit__server_call_ended(shimkit_server *srv, bool holds_worker) {
  pthread_mutex_lock(&srv->lock);
  srv->live_calls--;
  srv->held_calls -= holds_worker ? 1 : 0;
  if (srv->state != SHIMKIT__SERVER_RUNNING) {
    /* Only the drain waits for this; shimkit_server_wait sleeps on the same
     * condition, and waking it on every call costs a context switch. */
    pthread_cond_broadcast(&srv->cond);
  }
  pthread_mutex_unlock(&srv->lock);
}

/* ---- start ------------------------------------------------------------------------ */

shimkit_code shimkit_server_start(shimkit_server *srv) {
  if (srv == NULL) {
    return SHIMKIT_INVALID_ARGUMENT;
  }
  pthread_mutex_lock(&srv->lock);
  shimkit__server_state state = srv->state;
  int n_listeners = srv->n_listeners;
  pthread_mutex_unlock(&srv->lock);
  if (state != SHIMKIT__SERVER_NEW) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "shimkit_server_start: server already started");
    return SHIMKIT_FAILED_PRECONDITION;
  }
  if (n_listeners == 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "shimkit_server_start: no listener added");
    return SHIMKIT_FAILED_PRECONDITION;
  }
  srv->cq = grpc_completion_queue_create_for_next(NULL);
  if (srv->cq == NULL) {
    return SHIMKIT_RESOURCE_EXHAUSTED; /* free() destroys what was made */
  }
  grpc_server_register_completion_queue(srv->core, srv->cq, NULL);
  if (!shimkit__requests_register(srv)) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "cannot register the methods with gRPC");
    return SHIMKIT_RESOURCE_EXHAUSTED;
  }
  grpc_server_start(srv->core);
  srv->started = true;
  pthread_mutex_lock(&srv->lock);
  srv->state = SHIMKIT__SERVER_RUNNING;
  srv->accepting = true;
  pthread_mutex_unlock(&srv->lock);

  if (!shimkit__requests_post_all(srv) || !shimkit__pool_start(srv)) {
    shimkit_server_shutdown(srv);
    return SHIMKIT_RESOURCE_EXHAUSTED;
  }

  shimkit__health_set(srv->health, "", SHIMKIT_HEALTH_SERVING);
  for (size_t i = 0; i < srv->n_services; i++) {
    shimkit__health_set(srv->health, srv->services[i].desc->full_name, SHIMKIT_HEALTH_SERVING);
  }
  if (srv->opts.handle_signals) {
    srv->signals_base = shimkit__signals_count();
    srv->signals_installed = shimkit__signals_install();
  }
  char where[512];
  size_t pos = 0;
  where[0] = '\0';
  for (int i = 0; i < srv->n_listeners && pos < sizeof where; i++) {
    int k = snprintf(where + pos, sizeof where - pos, "%s%s", i > 0 ? ", " : "", srv->listeners[i]);
    if (k < 0) {
      break;
    }
    pos += (size_t)k;
  }
  shimkit_log(SHIMKIT_LOG_INFO, "server", "serving %zu services with up to %d workers on %s", srv->n_services,
              srv->opts.worker_threads, where);
  return SHIMKIT_OK;
}

/* ---- shutdown, wait, drain -------------------------------------------------------- */

void shimkit_server_shutdown(shimkit_server *srv) {
  if (srv == NULL) {
    return;
  }
  pthread_mutex_lock(&srv->lock);
  srv->shutdown_requested = true;
  pthread_cond_broadcast(&srv->cond);
  pthread_mutex_unlock(&srv->lock);
}

/* An absolute CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
static struct timespec in_ms(int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

/* Step 1's delay: calls are still served while health reads NOT_SERVING; a second signal ends it. */
static void delay_before_refusing(shimkit_server *srv, unsigned signals_at_start) {
  if (srv->opts.drain_delay_ms <= 0) {
    return;
  }
  shimkit_log(SHIMKIT_LOG_INFO, "server", "draining: health is NOT_SERVING; new calls still served for %d ms",
              srv->opts.drain_delay_ms);
  int64_t deadline = shimkit__now_ns() + (int64_t)srv->opts.drain_delay_ms * 1000000;
  while (shimkit__now_ns() < deadline) {
    if (srv->signals_installed && shimkit__signals_count() > signals_at_start) {
      shimkit_log(SHIMKIT_LOG_WARN, "server", "second signal: refusing new calls now");
      return;
    }
    struct timespec step = {.tv_sec = 0, .tv_nsec = 10 * 1000000};
    nanosleep(&step, NULL);
  }
}

/* Steps 1-6 of the drain (see the top of this file). Called with srv->state == DRAINING. */
static void drain(shimkit_server *srv) {
  unsigned signals_at_start = shimkit__signals_count();
  shimkit__health_drain(srv->health);
  delay_before_refusing(srv, signals_at_start);
  pthread_mutex_lock(&srv->lock);
  srv->accepting = false; /* no request is posted from now on */
  pthread_mutex_unlock(&srv->lock);
  grpc_server_shutdown_and_notify(srv->core, srv->ctrl_cq, &srv->shutdown_tag);

  int64_t deadline = shimkit__now_ns() + (int64_t)srv->opts.drain_grace_ms * 1000000;
  pthread_mutex_lock(&srv->lock);
  shimkit_log(SHIMKIT_LOG_INFO, "server", "draining: %d calls in flight, grace %d ms", srv->live_calls,
              srv->opts.drain_grace_ms);
  /* A slot out beyond the failing requests holds a call that was just matched
   * and may not be counted in live_calls yet: wait for it too. */
  while (srv->live_calls > 0 || (srv->slots_out > 0 && srv->n_threads > 0)) {
    int64_t left_ms = (deadline - shimkit__now_ns()) / 1000000;
    if (left_ms <= 0) {
      break;
    }
    if (srv->signals_installed && shimkit__signals_count() > signals_at_start) {
      shimkit_log(SHIMKIT_LOG_WARN, "server", "second signal: cancelling calls now");
      break;
    }
    struct timespec until = in_ms(left_ms < 100 ? left_ms : 100);
    pthread_cond_timedwait(&srv->cond, &srv->lock, &until);
  }
  int left = srv->live_calls;
  bool held = left > 0 || (srv->slots_out > 0 && srv->n_threads > 0);
  pthread_mutex_unlock(&srv->lock);
  if (held) {
    shimkit_log(SHIMKIT_LOG_WARN, "server", "drain grace over: cancelling %d calls", left);
    atomic_store(&srv->cancelling, true);
    grpc_server_cancel_all_calls(srv->core);
  }

  /* Cancelled calls end at once unless a handler ignores cancellation; say so while we wait. */
  pthread_mutex_lock(&srv->lock);
  int64_t next_warning = shimkit__now_ns() + (int64_t)5 * 1000000000;
  while (srv->live_calls > 0) {
    if (shimkit__now_ns() >= next_warning) {
      shimkit_log(SHIMKIT_LOG_WARN, "server",
                  "%d handlers still running after cancellation: handlers must return once "
                  "shimkit_call_is_cancelled() is true",
                  srv->live_calls);
      next_warning += (int64_t)5 * 1000000000;
    }
    struct timespec until = in_ms(100);
    pthread_cond_timedwait(&srv->cond, &srv->lock, &until);
  }
  /* Every pending request fails after the shutdown; their slots come back. */
  while (srv->slots_out > 0) {
    if (srv->n_threads == 0) {
      /* No worker (start could not make one): take the failed requests here. */
      pthread_mutex_unlock(&srv->lock);
      grpc_event ev = grpc_completion_queue_next(
          srv->cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(100, GPR_TIMESPAN)), NULL);
      if (ev.type == GRPC_OP_COMPLETE) {
        shimkit__call_event(srv, ev.tag, ev.success != 0);
      }
      pthread_mutex_lock(&srv->lock);
      continue;
    }
    struct timespec until = in_ms(100);
    pthread_cond_timedwait(&srv->cond, &srv->lock, &until);
  }
  /* No call, no request: nothing can use the shared queue any more (grpc-core note 4). */
  srv->cq_shut = true;
  int peak = srv->peak_threads;
  pthread_mutex_unlock(&srv->lock);
  grpc_completion_queue_shutdown(srv->cq);
  shimkit__pool_stop(srv);
  if (srv->n_threads == 0) {
    for (;;) { /* the workers took every event; this returns at once */
      grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      if (ev.type == GRPC_QUEUE_SHUTDOWN) {
        break;
      }
    }
  }
  shimkit_log(SHIMKIT_LOG_DEBUG, "server", "workers stopped (at most %d ran at once)", peak);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(srv->ctrl_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN || (ev.type == GRPC_OP_COMPLETE && ev.tag == &srv->shutdown_tag)) {
      break;
    }
  }
  if (srv->signals_installed) {
    shimkit__signals_uninstall();
    srv->signals_installed = false;
  }
  shimkit_log(SHIMKIT_LOG_INFO, "server", "stopped");
}

/* Runs the drain unless someone else does; returns once the server is STOPPED. */
static void drain_once(shimkit_server *srv) {
  pthread_mutex_lock(&srv->lock);
  if (srv->state == SHIMKIT__SERVER_RUNNING) {
    srv->state = SHIMKIT__SERVER_DRAINING;
    pthread_mutex_unlock(&srv->lock);
    drain(srv);
    pthread_mutex_lock(&srv->lock);
    srv->state = SHIMKIT__SERVER_STOPPED;
    pthread_cond_broadcast(&srv->cond);
  } else {
    while (srv->state == SHIMKIT__SERVER_DRAINING) {
      pthread_cond_wait(&srv->cond, &srv->lock);
    }
  }
  pthread_mutex_unlock(&srv->lock);
}

void shimkit_server_wait(shimkit_server *srv) {
  if (srv == NULL) {
    return;
  }
  pthread_mutex_lock(&srv->lock);
  if (srv->state == SHIMKIT__SERVER_NEW) {
    pthread_mutex_unlock(&srv->lock);
    shimkit_log(SHIMKIT_LOG_WARN, "server", "shimkit_server_wait on a server that was not started");
    return;
  }
  while (!srv->shutdown_requested && srv->state == SHIMKIT__SERVER_RUNNING) {
    if (srv->signals_installed && shimkit__signals_count() != srv->signals_base) {
      shimkit_log(SHIMKIT_LOG_INFO, "server", "signal received: shutting down");
      srv->shutdown_requested = true;
      break;
    }
    /* Signals only set a flag (grpc-core note 5); look at it ten times a second. */
    struct timespec until = in_ms(100);
    pthread_cond_timedwait(&srv->cond, &srv->lock, &until);
  }
  pthread_mutex_unlock(&srv->lock);
  drain_once(srv);
}

/* ---- free ----------------------------------------------------------------------------- */

void shimkit_server_free(shimkit_server *srv) {
  if (srv == NULL) {
    return;
  }
  drain_once(srv); /* no-op unless running */
  if (srv->core != NULL && !srv->started) {
    /* Never served: the core still wants a completed shutdown before destroy. */
    grpc_server_shutdown_and_notify(srv->core, srv->ctrl_cq, &srv->shutdown_tag);
    for (;;) {
      grpc_event ev = grpc_completion_queue_next(srv->ctrl_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      if (ev.type == GRPC_QUEUE_SHUTDOWN || (ev.type == GRPC_OP_COMPLETE && ev.tag == &srv->shutdown_tag)) {
        break;
      }
    }
  }
  if (srv->ctrl_cq != NULL) {
    grpc_completion_queue_shutdown(srv->ctrl_cq);
    for (;;) {
      grpc_event ev = grpc_completion_queue_next(srv->ctrl_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      if (ev.type == GRPC_QUEUE_SHUTDOWN) {
        break;
      }
    }
  }
  if (srv->cq != NULL && !srv->cq_shut) {
    /* Made, but the server never ran calls on it. */
    grpc_completion_queue_shutdown(srv->cq);
    for (;;) {
      grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      if (ev.type == GRPC_QUEUE_SHUTDOWN) {
        break;
      }
    }
  }
  if (srv->core != NULL) {
    grpc_server_destroy(srv->core);
  }
  if (srv->ctrl_cq != NULL) {
    grpc_completion_queue_destroy(srv->ctrl_cq);
  }
  if (srv->cq != NULL) {
    grpc_completion_queue_destroy(srv->cq);
  }
  shimkit__requests_free(srv);
  if (srv->grpc_ref) {
    grpc_shutdown();
  }
  shimkit__health_free(srv->health);
  shimkit__listeners_free(srv);
  free(srv->services);
  free(srv->interceptors);
  if (srv->pool_conds) {
    pthread_cond_destroy(&srv->park_cond);
    pthread_cond_destroy(&srv->monitor_cond);
  }
  pthread_cond_destroy(&srv->cond);
  pthread_mutex_destroy(&srv->lock);
  pthread_mutex_destroy(&srv->park_lock);
  free(srv);
}
