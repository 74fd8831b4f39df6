/*
 * fs_redis_conn.c - see fs_redis_conn.h. Timeouts keep a hung or half-dead
 * server from blocking handler threads: FS_REDIS_CONNECT_MS to connect,
 * FS_REDIS_IO_MS for any one reply. FS_REDIS_POOL connections, each with its
 * own lock, are used side by side; each comes back by itself.
 */
#define _POSIX_C_SOURCE 200809L

#include "fs_redis_conn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FS_REDIS_CONNECT_MS 1000
#define FS_REDIS_IO_MS 10000
#define FS_REDIS_IDLE_CHECK_S 1 /* a connection idle this long is PINGed before a non-idempotent op */
#define FS_REDIS_POOL 4         /* connections per back end */

/* One connection of the pool. */
typedef struct slot {
  const struct fs_redis_conn *c; /* its pool */
  redisContext *ctx;             /* NULL until connected, or after a failure */
  time_t last_used;              /* monotonic seconds of the last successful op */
  pthread_mutex_t lock;          /* one operation at a time on ctx */
} slot;

struct fs_redis_conn {
  char addr[300];            /* as given, for messages */
  char host[256];            /* host part */
  int port;                  /* port part */
  slot slots[FS_REDIS_POOL]; /* the connections */
  unsigned next;             /* where the search for a free one starts (racy on purpose: a hint) */
  pthread_mutex_t next_lock; /* guards next */
};

static time_t now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

fs_redis_conn *fs_redis_conn_new(const char *addr, fs_err *err) {
  const char *colon = strrchr(addr, ':');
  char *end = NULL;
  long port = colon ? strtol(colon + 1, &end, 10) : 0;
  size_t hlen = colon ? (size_t)(colon - addr) : 0;
  if (!colon || hlen == 0 || !end || *end || port <= 0 || port > 65535 || strlen(addr) >= 300 || hlen >= 256) {
    fs_fail(err, FS_ERROR, "--redis \"%.200s\" is not HOST:PORT", addr);
    return NULL;
  }
  fs_redis_conn *c = calloc(1, sizeof *c);
  if (!c) {
    fs_fail(err, FS_FULL, "out of memory");
    return NULL;
  }
  snprintf(c->addr, sizeof c->addr, "%s", addr);
  const char *h = addr;
  if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') { /* [::1]:6379 */
    h++;
    hlen -= 2;
  }
  memcpy(c->host, h, hlen);
  c->host[hlen] = '\0';
  c->port = (int)port;
  for (int i = 0; i < FS_REDIS_POOL; i++) {
    c->slots[i].c = c;
    pthread_mutex_init(&c->slots[i].lock, NULL);
  }
  pthread_mutex_init(&c->next_lock, NULL);
  return c;
}

void fs_redis_conn_free(fs_redis_conn *c) {
  if (!c) return;
  for (int i = 0; i < FS_REDIS_POOL; i++) {
    if (c->slots[i].ctx) redisFree(c->slots[i].ctx);
    pthread_mutex_destroy(&c->slots[i].lock);
  }
  pthread_mutex_destroy(&c->next_lock);
  free(c);
}

const char *fs_redis_conn_addr(const fs_redis_conn *c) { return c->addr; }

static void drop(slot *c) {
  if (c->ctx) redisFree(c->ctx);
  c->ctx = NULL;
}

static fs_rc connect_now(slot *c, fs_err *err) {
  if (c->ctx && !c->ctx->err) return FS_OK;
  drop(c);
  struct timeval tv = {FS_REDIS_CONNECT_MS / 1000, (FS_REDIS_CONNECT_MS % 1000) * 1000};
  redisContext *ctx = redisConnectWithTimeout(c->c->host, c->c->port, tv);
  if (!ctx) return fs_fail(err, FS_FULL, "out of memory");
  if (ctx->err) {
    fs_fail(err, FS_UNAVAILABLE, "Redis at %s is unavailable (%s); retry once it is back", c->c->addr, ctx->errstr);
    redisFree(ctx);
    return FS_UNAVAILABLE;
  }
  struct timeval io = {FS_REDIS_IO_MS / 1000, (FS_REDIS_IO_MS % 1000) * 1000};
  redisSetTimeout(ctx, io);
  redisEnableKeepAlive(ctx);
  c->ctx = ctx;
  c->last_used = now_s();
  return FS_OK;
}

redisReply *fs_redis_reply(redisContext *ctx, redisReply *reply, const char *what, fs_rc *rc, fs_err *err) {
  if (!reply) {
    *rc = fs_fail(err, FS_UNAVAILABLE, "Redis became unavailable during %s (%s); retry once it is back", what,
                  ctx->errstr[0] ? ctx->errstr : "connection lost");
    if (!ctx->err) ctx->err = REDIS_ERR_IO; /* make sure the connection is remade */
    return NULL;
  }
  if (reply->type != REDIS_REPLY_ERROR) {
    *rc = FS_OK;
    return reply;
  }
  const char *m = reply->str ? reply->str : "";
  if (strstr(m, "NOVIEW")) *rc = fs_fail(err, FS_NOT_FOUND, "no such view");
  else if (strstr(m, "VIEWCHANGED")) *rc = fs_fail(err, FS_CHANGED, "the view was re-created");
  else if (!strncmp(m, "LOADING", 7) || !strncmp(m, "BUSY", 4) || !strncmp(m, "MASTERDOWN", 10))
    *rc = fs_fail(err, FS_UNAVAILABLE, "Redis cannot serve %s now: %s", what, m);
  else if (!strncmp(m, "OOM", 3) || !strncmp(m, "MISCONF", 7))
    *rc = fs_fail(err, FS_FULL, "Redis refused %s: %s", what, m);
  else
    *rc = fs_fail(err, FS_ERROR, "Redis answered %s with an error: %s", what, m);
  freeReplyObject(reply);
  return NULL;
}

redisReply *fs_redis_next_reply(redisContext *ctx, const char *what, fs_rc *rc, fs_err *err) {
  void *reply = NULL;
  if (redisGetReply(ctx, &reply) != REDIS_OK) reply = NULL;
  return fs_redis_reply(ctx, reply, what, rc, err);
}

fs_rc fs_redis_ping(redisContext *ctx, void *arg, fs_err *err) {
  (void)arg;
  fs_rc rc;
  redisReply *r = fs_redis_reply(ctx, redisCommand(ctx, "PING"), "PING", &rc, err);
  if (r) freeReplyObject(r);
  return rc;
}

/* A connection of the pool, locked: a free one if any, else waits for one. */
static slot *take(fs_redis_conn *pool) {
  pthread_mutex_lock(&pool->next_lock);
  unsigned start = pool->next++;
  pthread_mutex_unlock(&pool->next_lock);
  for (unsigned i = 0; i < FS_REDIS_POOL; i++) {
    slot *s = &pool->slots[(start + i) % FS_REDIS_POOL];
    if (pthread_mutex_trylock(&s->lock) == 0) return s;
  }
  slot *s = &pool->slots[start % FS_REDIS_POOL];
  pthread_mutex_lock(&s->lock);
  return s;
}

fs_rc fs_redis_run(fs_redis_conn *pool, int idempotent, fs_redis_op op, void *arg, fs_err *err) {
  slot *c = take(pool);
  int had = c->ctx != NULL && !c->ctx->err;
  fs_rc rc = connect_now(c, err);
  if (rc == FS_OK && had && !idempotent && now_s() - c->last_used >= FS_REDIS_IDLE_CHECK_S) {
    if (fs_redis_ping(c->ctx, NULL, err) != FS_OK) { /* stale connection: remake it before sending op */
      had = 0;
      rc = connect_now(c, err);
    }
  }
  if (rc == FS_OK) rc = op(c->ctx, arg, err);
  if (rc == FS_UNAVAILABLE && had && idempotent && c->ctx && c->ctx->err) {
    rc = connect_now(c, err); /* Redis restarted since the last op: once more on a new connection */
    if (rc == FS_OK) rc = op(c->ctx, arg, err);
  }
  if (c->ctx && c->ctx->err) drop(c);
  else if (rc != FS_UNAVAILABLE) c->last_used = now_s();
  pthread_mutex_unlock(&c->lock);
  return rc;
}
