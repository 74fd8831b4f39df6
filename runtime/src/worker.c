/*
 * worker.c - the elastic pool of worker threads that poll the shared queue.
 *
 * One worker at a time polls (grpc_completion_queue_next on srv->cq) and
 * hands each event to call_run.c; the other workers are parked on our own
 * condition variable, outside gRPC. Why: gRPC hands its poller role to
 * another thread waiting in cq_next whenever the poller returns with an
 * event, so a spare polling next to a worker that runs a short unary
 * handler costs about four thread wake-ups per call; a single poller that
 * runs the handler inline costs one.
 *
 * A worker that starts a handler stops polling. Then:
 *   - a stream or raw call holds its worker for its whole life (it blocks in
 *     reads and writes): a parked worker is told to poll at once (or a new
 *     thread starts, up to opts.worker_threads);
 *   - a unary handler usually returns within microseconds, so nobody takes
 *     over at first. The monitor thread (only while a handler runs
 *     uncovered) looks when the handler has run 1 to 2 ms (COVER_AFTER_NS,
 *     TICK_NS); if that poller is still in a handler, a parked worker starts
 *     polling. Likewise at once when calls overlap (another call is live):
 *     then several workers poll, as concurrency pays on several cores.
 * So a slow or blocked handler delays other calls by about 2 ms at most,
 * and never blocks them. A worker whose handler returned polls again if
 * nobody else does or calls overlap, or else parks. At the maximum every worker may be
 * busy: new calls wait (in the shared queue or in gRPC) until one is free;
 * nothing fails. A parked worker that stays parked for IDLE_EXIT_MS exits
 * while another worker is parked too. Workers hold no request and no call
 * while they poll or park. They all exit when the drain shuts the shared
 * queue down (GRPC_QUEUE_SHUTDOWN, or cq_shut for parked ones); threads are
 * detached, and shimkit__pool_stop() waits for n_threads to reach 0 and
 * joins the monitor.
 *
 * The monitor sleeps without a timeout while no handler ran lately, so an
 * idle server has no timer. Under a steady stream of calls it wakes about
 * once per TICK_NS (not per call); after a quiet period the first handler
 * wakes it with one signal. A worker that polls while calls no longer
 * overlap parks after its event when another worker polls too.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "server_core.h"
#include "shimkit/log.h"

#define COVER_AFTER_NS ((int64_t)1000000) /* a unary handler running this long gets a poller beside it */
#define TICK_NS ((int64_t)2000000)        /* the monitor's period while handlers keep coming */
#define IDLE_EXIT_MS 10000                /* a surplus parked worker exits after this long */

/* Set by shimkit__pool_idle() for the worker thread it runs on: park after this event. */
static _Thread_local bool tl_park;

static void *poller_main(void *arg);
static void *parked_main(void *arg);

/* Starts one worker, polling or parked. Under srv->lock. false when the thread cannot start. */
static bool spawn_locked(shimkit_server *srv, bool polling) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int err = pthread_create(&t, &attr, polling ? poller_main : parked_main, srv);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    shimkit_log(SHIMKIT_LOG_ERROR, "server", "cannot start a worker thread: %s", strerror(err));
    return false;
  }
  srv->n_threads++;
  if (polling) {
    srv->n_polling++;
  } else {
    srv->n_parked++;
  }
  if (srv->n_threads > srv->peak_threads) {
    srv->peak_threads = srv->n_threads;
  }
  return true;
}

/* Gets a worker polling while the last poller runs a handler. Under srv->lock. */
static void cover_locked(shimkit_server *srv) {
  srv->uncovered = false; /* covered now, or nothing more can be done until a handler returns */
  if (srv->cq_shut || srv->n_polling > 0) {
    return;
  }
  if (srv->n_parked > 0) {
    srv->n_parked--;
    srv->n_wake++; /* a token: whichever parked worker takes it polls */
    srv->n_polling++;
    pthread_cond_signal(&srv->park_cond);
  } else if (srv->n_threads < srv->opts.worker_threads) {
    spawn_locked(srv, true);
  }
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec mono_at(int64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
  return ts;
}

/*
 * The monitor: covers a unary handler that has run uncovered for
 * COVER_AFTER_NS. While handlers keep going uncovered it ticks every
 * TICK_NS (and once more at COVER_AFTER_NS of a handler it saw running),
 * so a handler gets a poller beside it after 1 to 2 ms; after a tick with
 * no new handler it sleeps untimed until pool_busy signals it.
 */
static void *monitor_main(void *arg) {
  shimkit_server *srv = arg;
  pthread_mutex_lock(&srv->lock);
  while (!srv->monitor_stop) {
    if (!srv->uncovered && !srv->monitor_recent) {
      srv->monitor_asleep = true;
      while (srv->monitor_asleep && !srv->monitor_stop) {
        pthread_cond_wait(&srv->monitor_cond, &srv->lock);
      }
      continue;
    }
    srv->monitor_recent = false;
    int64_t now = mono_ns();
    int64_t next = now + TICK_NS;
    if (srv->uncovered) {
      if (now - srv->uncovered_ns >= COVER_AFTER_NS) {
        cover_locked(srv);
      } else {
        next = srv->uncovered_ns + COVER_AFTER_NS;
      }
    }
    struct timespec until = mono_at(next);
    pthread_cond_timedwait(&srv->monitor_cond, &srv->lock, &until);
  }
  pthread_mutex_unlock(&srv->lock);
  return NULL;
}

bool shimkit__pool_start(shimkit_server *srv) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&srv->park_cond, &attr);
  pthread_cond_init(&srv->monitor_cond, &attr);
  pthread_condattr_destroy(&attr);
  srv->pool_conds = true;

  pthread_mutex_lock(&srv->lock);
  spawn_locked(srv, true);
  if (srv->n_threads > 0 && srv->opts.worker_threads > 1) {
    spawn_locked(srv, false); /* one spare, parked, so covering needs no thread start */
    srv->monitor_stop = false;
    srv->monitor_on = pthread_create(&srv->monitor, NULL, monitor_main, srv) == 0;
    if (!srv->monitor_on) {
      shimkit_log(SHIMKIT_LOG_ERROR, "server", "cannot start the worker monitor: blocked unary handlers "
                                               "delay other calls");
    }
  }
  bool ok = srv->n_threads > 0;
  pthread_mutex_unlock(&srv->lock);
  return ok;
}

/*
 * Calls overlap: more than one call that workers take turns on (unary and
 * forwarded calls) is live. Streams and raw calls do not count: each keeps a
 * worker of its own, so a long-lived one (a health Watch from a router)
 * would otherwise keep several workers polling for good, and every call
 * would pay the hand-off between them (measured: 2 thread switches per call
 * more at the backend of a router). Under srv->lock.
 */
static bool overlap_locked(const shimkit_server *srv) {
  return srv->live_calls - srv->held_calls > 1;
}

/* A poller starts a handler; holds_worker: for the life of a stream. */
static void busy(shimkit_server *srv, bool holds_worker) {
  pthread_mutex_lock(&srv->lock);
  srv->n_polling--; /* only a poller takes a call */
  if (srv->n_polling == 0 && !srv->cq_shut) {
    if (holds_worker || overlap_locked(srv)) {
      cover_locked(srv);
    } else if (srv->monitor_on) {
      srv->uncovered = true;
      srv->uncovered_ns = mono_ns();
      srv->monitor_recent = true;
      if (srv->monitor_asleep) {
        srv->monitor_asleep = false;
        pthread_cond_signal(&srv->monitor_cond);
      }
    }
  }
  pthread_mutex_unlock(&srv->lock);
}

void shimkit__pool_busy(shimkit_server *srv) {
  busy(srv, false);
}

void shimkit__pool_busy_long(shimkit_server *srv) {
  busy(srv, true);
}

void shimkit__pool_idle(shimkit_server *srv) {
  pthread_mutex_lock(&srv->lock);
  if ((srv->n_polling == 0 || overlap_locked(srv)) && !srv->cq_shut) {
    srv->n_polling++; /* nobody polls, or calls overlap: this worker polls (again) */
    srv->uncovered = false;
    tl_park = false;
  } else {
    srv->n_parked++; /* counted now; it parks when back in its loop */
    tl_park = true;
  }
  pthread_mutex_unlock(&srv->lock);
}

/* After the shared queue was shut down: waits until every worker has left. */
void shimkit__pool_stop(shimkit_server *srv) {
  pthread_mutex_lock(&srv->lock);
  pthread_cond_broadcast(&srv->park_cond); /* parked workers see cq_shut and leave */
  srv->monitor_stop = true;
  pthread_cond_signal(&srv->monitor_cond);
  bool join = srv->monitor_on;
  srv->monitor_on = false;
  while (srv->n_threads > 0) {
    pthread_cond_wait(&srv->cond, &srv->lock);
  }
  pthread_mutex_unlock(&srv->lock);
  if (join) {
    pthread_join(srv->monitor, NULL);
  }
}

/* Counts this worker out. Under srv->lock; the thread returns right after. */
static void leave_locked(shimkit_server *srv) {
  srv->n_threads--;
  pthread_cond_broadcast(&srv->cond);
}

/*
 * Parks this worker until a token tells it to poll (true) or it should exit
 * (false: the queue was shut down, or it was a surplus spare for too long).
 * Under srv->lock; counted in n_parked on entry.
 */
static bool park_locked(shimkit_server *srv) {
  struct timespec until = mono_at(mono_ns() + (int64_t)IDLE_EXIT_MS * 1000000);
  while (srv->n_wake == 0 && !srv->cq_shut) {
    int rc = pthread_cond_timedwait(&srv->park_cond, &srv->lock, &until);
    if (rc == ETIMEDOUT && srv->n_wake == 0) {
      if (srv->n_parked > 1) { /* another spare stays parked */
        srv->n_parked--;
        return false;
      }
      until = mono_at(mono_ns() + (int64_t)IDLE_EXIT_MS * 1000000);
    }
  }
  if (srv->n_wake > 0) {
    srv->n_wake--; /* cover_locked counted this worker as polling already */
    return true;
  }
  srv->n_parked--;
  return false;
}

/* Polls the shared queue; parks when told to (tl_park); returns when the worker exits. */
static void work(shimkit_server *srv) {
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) {
      pthread_mutex_lock(&srv->lock);
      srv->n_polling--;
      return;
    }
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
      continue;
    }
    tl_park = false;
    shimkit__call_event(srv, ev.tag, ev.success != 0);
    pthread_mutex_lock(&srv->lock);
    if (!tl_park && srv->n_polling > 1 && !overlap_locked(srv)) {
      srv->n_polling--; /* calls no longer overlap: one poller is enough */
      srv->n_parked++;
      tl_park = true;
    }
    if (tl_park && !park_locked(srv)) {
      return;
    }
    pthread_mutex_unlock(&srv->lock);
  }
}

static void *poller_main(void *arg) {
  shimkit_server *srv = arg;
  work(srv); /* returns under srv->lock */
  leave_locked(srv);
  pthread_mutex_unlock(&srv->lock);
  return NULL;
}

static void *parked_main(void *arg) {
  shimkit_server *srv = arg;
  pthread_mutex_lock(&srv->lock);
  if (park_locked(srv)) {
    pthread_mutex_unlock(&srv->lock);
    work(srv);
  }
  leave_locked(srv);
  pthread_mutex_unlock(&srv->lock);
  return NULL;
}
