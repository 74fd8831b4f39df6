/*
 * signals.c - SIGTERM and SIGINT as a counter.
 *
 * gRPC must not be called from a signal handler (grpc-core note 5), and a
 * sigwait thread would need the signals blocked in every thread, including
 * the ones gRPC starts before we could. So the handler only bumps an atomic
 * counter; shimkit_server_wait() looks at it ten times a second. Several
 * servers in one process share the handler (reference counted); the
 * previous dispositions come back when the last one stops.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "server_core.h"

static atomic_uint signal_count;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static int installs;
static struct sigaction old_term;
static struct sigaction old_int;

static void on_signal(int sig) {
  (void)sig;
  atomic_fetch_add(&signal_count, 1); /* lock-free on every platform we build for */
}

bool shimkit__signals_install(void) {
  pthread_mutex_lock(&install_lock);
  bool ok = true;
  if (installs == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, &old_term) != 0) {
      ok = false;
    } else if (sigaction(SIGINT, &sa, &old_int) != 0) {
      sigaction(SIGTERM, &old_term, NULL);
      ok = false;
    }
  }
  if (ok) {
    installs++;
  }
  pthread_mutex_unlock(&install_lock);
  return ok;
}

void shimkit__signals_uninstall(void) {
  pthread_mutex_lock(&install_lock);
  if (installs > 0 && --installs == 0) {
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
  }
  pthread_mutex_unlock(&install_lock);
}

unsigned shimkit__signals_count(void) {
  return atomic_load(&signal_count);
}
