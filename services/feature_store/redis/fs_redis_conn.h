/*
 * fs_redis_conn.h - a small pool of hiredis connections that come back by
 * themselves.
 *
 * Redis may be down when the shim starts, or restart under it. The
 * connection is made lazily and remade on the next operation after any I/O
 * error; while Redis cannot be reached every operation fails at once with
 * FS_UNAVAILABLE and a message naming the address. Each connection of the
 * pool runs one operation at a time under its own mutex (hiredis contexts
 * are not thread-safe); operations of several threads use several.
 */
#ifndef FS_REDIS_CONN_H
#define FS_REDIS_CONN_H

#include <hiredis/hiredis.h>

#include "fs_backend.h"

typedef struct fs_redis_conn fs_redis_conn;

/* host:port (IPv4, name, or [IPv6]:port). NULL with err set for a bad address or no memory. */
fs_redis_conn *fs_redis_conn_new(const char *addr, fs_err *err);

/* Closes and frees. Accepts NULL. */
void fs_redis_conn_free(fs_redis_conn *c);

/* "127.0.0.1:6379", for messages. */
const char *fs_redis_conn_addr(const fs_redis_conn *c);

/* An operation on a live connection; FS_UNAVAILABLE when the connection broke. */
typedef fs_rc (*fs_redis_op)(redisContext *ctx, void *arg, fs_err *err);

/* An op that sends PING: checks that Redis answers. arg is unused. */
fs_rc fs_redis_ping(redisContext *ctx, void *arg, fs_err *err);

/*
 * Runs op on a live connection of the pool, locked for it (connecting if needed). When
 * the connection turns out broken (Redis restarted), it is remade and op
 * runs once more if idempotent; otherwise a cheap PING checks a connection
 * that was idle before op runs, so op is sent at most once.
 */
fs_rc fs_redis_run(fs_redis_conn *c, int idempotent, fs_redis_op op, void *arg, fs_err *err);

/*
 * The reply of a command sent on ctx, checked: NULL after an I/O error
 * (err says Redis is unavailable, *rc = FS_UNAVAILABLE), or after an error
 * reply (*rc by its kind: LOADING/BUSY → FS_UNAVAILABLE, OOM/MISCONF →
 * FS_FULL, "NOVIEW" from our scripts → FS_NOT_FOUND, else FS_ERROR).
 * Free a non-NULL reply with freeReplyObject.
 */
redisReply *fs_redis_reply(redisContext *ctx, redisReply *reply, const char *what, fs_rc *rc, fs_err *err);

/* Same for the next reply of a pipeline (redisGetReply). */
redisReply *fs_redis_next_reply(redisContext *ctx, const char *what, fs_rc *rc, fs_err *err);

#endif /* FS_REDIS_CONN_H */
