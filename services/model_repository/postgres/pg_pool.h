/*
 * pg_pool.h - a small pool of libpq connections shared by the worker
 * threads. A connection is taken for one operation (or one whole upload) and
 * given back; broken connections are dropped on return and new ones are made
 * on demand, which is how the back end recovers once PostgreSQL is back.
 */
#ifndef MR_PG_POOL_H
#define MR_PG_POOL_H

#include <libpq-fe.h>

#include "mr_backend.h"

typedef struct pg_pool pg_pool;

/* A pool for dsn (copied) holding at most max connections; NULL when out of memory. */
pg_pool *pg_pool_new(const char *dsn, int max);
/* Closes every idle connection and frees the pool (all connections must be back). Accepts NULL. */
void pg_pool_free(pg_pool *pool);

/*
 * Takes a connection: an idle one (*fresh = 0) or a new one (*fresh = 1),
 * waiting while max are in use. MR_UNAVAILABLE with libpq's reason when
 * PostgreSQL cannot be reached.
 */
mr_rc pg_pool_get(pg_pool *pool, PGconn **conn, int *fresh, mr_err *err);
/* Gives a connection back; one that is broken or inside a transaction is closed. */
void pg_pool_put(pg_pool *pool, PGconn *conn);

#endif /* MR_PG_POOL_H */
