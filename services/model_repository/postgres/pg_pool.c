/*
 * pg_pool.c - the libpq connection pool of the postgres back end (see
 * pg_pool.h). Connecting happens outside the lock, with a connect timeout,
 * so a PostgreSQL that is down costs each caller one refused connection
 * (UNAVAILABLE) and never blocks the others for long.
 */
#define _POSIX_C_SOURCE 200809L
#include "pg_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PG_CONNECT_TIMEOUT_S "5"

struct pg_pool {
  pthread_mutex_t mu;
  pthread_cond_t freed; /* signalled when a connection comes back */
  char *dsn;
  int max;      /* connections open at most */
  int open;     /* connections open now (idle + taken) */
  int n_idle;
  PGconn **idle; /* max slots */
};

pg_pool *pg_pool_new(const char *dsn, int max) {
  pg_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->dsn = strdup(dsn);
  p->idle = calloc((size_t)max, sizeof *p->idle);
  if (!p->dsn || !p->idle) {
    free(p->dsn);
    free(p->idle);
    free(p);
    return NULL;
  }
  p->max = max;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->freed, NULL);
  return p;
}

void pg_pool_free(pg_pool *p) {
  if (!p) return;
  for (int i = 0; i < p->n_idle; i++) PQfinish(p->idle[i]);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->freed);
  free(p->idle);
  free(p->dsn);
  free(p);
}

/* libpq's message without its trailing newline. */
static void conn_message(PGconn *c, mr_err *err) {
  const char *m = c ? PQerrorMessage(c) : "out of memory";
  mr_err_set(err, MR_UNAVAILABLE, "PostgreSQL is unavailable: %s", m && m[0] ? m : "cannot connect");
  size_t len = strlen(err->msg);
  while (len && (err->msg[len - 1] == '\n' || err->msg[len - 1] == ' ')) err->msg[--len] = '\0';
}

static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static PGconn *connect_new(const char *dsn) {
  /* Later keywords win over what the DSN expands to, earlier ones are defaults. */
  const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
  const char *const vals[] = {PG_CONNECT_TIMEOUT_S, "model_repository_shim", dsn, NULL};
  return PQconnectdbParams(keys, vals, 1);
}

mr_rc pg_pool_get(pg_pool *p, PGconn **conn, int *fresh, mr_err *err) {
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (p->n_idle > 0) {
      *conn = p->idle[--p->n_idle];
      *fresh = 0;
      pthread_mutex_unlock(&p->mu);
      return MR_OK;
    }
    if (p->open < p->max) break;
    pthread_cond_wait(&p->freed, &p->mu);
  }
  p->open++;
  pthread_mutex_unlock(&p->mu);

  PGconn *c = connect_new(p->dsn);
  if (c && PQstatus(c) == CONNECTION_OK) {
    /* Notices (e.g. "relation already exists, skipping") are not for the log. */
    PQsetNoticeProcessor(c, quiet, NULL);
    *conn = c;
    *fresh = 1;
    return MR_OK;
  }
  conn_message(c, err);
  PQfinish(c);
  pthread_mutex_lock(&p->mu);
  p->open--;
  pthread_cond_signal(&p->freed);
  pthread_mutex_unlock(&p->mu);
  return MR_UNAVAILABLE;
}

void pg_pool_put(pg_pool *p, PGconn *c) {
  if (!c) return;
  int keep = PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE;
  pthread_mutex_lock(&p->mu);
  if (keep && p->n_idle < p->max) {
    p->idle[p->n_idle++] = c;
    c = NULL;
  } else {
    p->open--;
  }
  pthread_cond_signal(&p->freed);
  pthread_mutex_unlock(&p->mu);
  PQfinish(c);
}
