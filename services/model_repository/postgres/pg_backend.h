/*
 * pg_backend.h - the PostgreSQL back end of the model repository: models,
 * versions, aliases and the artifacts themselves (bytea chunks) in one
 * database, reached through libpq. PostgreSQL being down is UNAVAILABLE;
 * connections are remade when it is back.
 */
#ifndef MR_PG_BACKEND_H
#define MR_PG_BACKEND_H

#include "mr_backend.h"

/*
 * Prepares the back end for dsn (a libpq connection string) and creates the
 * schema if PostgreSQL is reachable now; if it is not, the shim still starts
 * and answers UNAVAILABLE until it is. Fills *out.
 */
mr_rc mr_pg_open(const char *dsn, mr_backend *out, mr_err *err);

#endif /* MR_PG_BACKEND_H */
