/*
 * worker.c - the elastic pool of worker threads that poll the shared queue.
 *
 * Every worker loops on grpc_completion_queue_next(srv->cq) and hands each
 * event to call_run.c. A worker that runs a handler is busy (a unary handler
 * briefly, a stream for its whole life); the others are idle, polling. When
 * a worker turns busy and fewer than MIN_IDLE idle workers are left, another
 * thread starts, up to opts.worker_threads. At that maximum every worker may
 * be busy: then new calls wait (in the shared queue or in gRPC) until one is
 * free; nothing fails. A worker that stays idle for IDLE_EXIT_MS while more
 * than MIN_IDLE are idle exits. Workers hold no request and no call while
 * they poll, so one can leave at any time. They all exit when the drain
 * shuts the shared queue down (GRPC_QUEUE_SHUTDOWN); threads are detached,
 * and shimkit__pool_stop() waits for n_threads to reach 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <string.h>

#include "server_core.h"
#include "shimkit/log.h"

#define MIN_IDLE 1         /* idle workers kept polling */
#define IDLE_EXIT_MS 10000 /* a surplus idle worker exits after this long without events */

static void *worker_main(void *arg);

/* Starts one worker. Under srv->lock. false when the thread cannot start. */
static bool spawn_locked(shimkit_server *srv) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int err = pthread_create(&t, &attr, worker_main, srv);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "cannot start a worker thread: %s", strerror(err));
    return false;
  }
  srv->n_threads++;
  srv->n_idle++;
  if (srv->n_threads > srv->peak_threads) {
    srv->peak_threads = srv->n_threads;
  }
  return true;
}

bool shimkit__pool_start(shimkit_server *srv) {
  pthread_mutex_lock(&srv->lock);
  int want = MIN_IDLE < srv->opts.worker_threads ? MIN_IDLE : srv->opts.worker_threads;
  for (int i = 0; i < want; i++) {
    spawn_locked(srv);
  }
  bool ok = srv->n_threads > 0;
  pthread_mutex_unlock(&srv->lock);
  return ok;
}

void shimkit__pool_busy(shimkit_server *srv) {
  pthread_mutex_lock(&srv->lock);
  srv->n_idle--;
  if (srv->n_idle < MIN_IDLE && srv->n_threads < srv->opts.worker_threads && !srv->cq_shut) {
    spawn_locked(srv);
  }
  pthread_mutex_unlock(&srv->lock);
}

void shimkit__pool_idle(shimkit_server *srv) {
  pthread_mutex_lock(&srv->lock);
  srv->n_idle++;
  pthread_mutex_unlock(&srv->lock);
}

/* After the shared queue was shut down: waits until every worker has left. */
void shimkit__pool_stop(shimkit_server *srv) {
  pthread_mutex_lock(&srv->lock);
  while (srv->n_threads > 0) {
    pthread_cond_wait(&srv->cond, &srv->lock);
  }
  pthread_mutex_unlock(&srv->lock);
}

/* Counts this worker out. Under srv->lock; the thread returns right after. */
static void leave_locked(shimkit_server *srv) {
  srv->n_idle--;
  srv->n_threads--;
  pthread_cond_broadcast(&srv->cond);
}

static void *worker_main(void *arg) {
  shimkit_server *srv = arg;
  for (;;) {
    gpr_timespec until =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(IDLE_EXIT_MS, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_next(srv->cq, until, NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) {
      break;
    }
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
      pthread_mutex_lock(&srv->lock);
      if (srv->n_idle > MIN_IDLE) { /* a surplus worker: enough others poll */
        leave_locked(srv);
        pthread_mutex_unlock(&srv->lock);
        return NULL;
      }
      pthread_mutex_unlock(&srv->lock);
      continue;
    }
    shimkit__call_event(srv, ev.tag, ev.success != 0);
  }
  pthread_mutex_lock(&srv->lock);
  leave_locked(srv);
  pthread_mutex_unlock(&srv->lock);
  return NULL;
}
