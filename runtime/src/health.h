/*
 * health.h - the server's health table and the grpc.health.v1.Health service.
 *
 * The server owns one struct shimkit_health (created in shimkit_server_new,
 * freed in shimkit_server_free after every call ended) and reaches it through
 * shimkit__server_health(). shimkit_server_set_health() and the drain write
 * to it; the Check and Watch handlers read it. Thread-safe throughout.
 *
 * Service names are keys; "" is the whole server. A name nobody set is
 * unknown: Check answers NOT_FOUND, Watch sends SERVICE_UNKNOWN and waits.
 */
#ifndef SHIMKIT_HEALTH_H
#define SHIMKIT_HEALTH_H

#include "shimkit/server.h"
#include "shimkit/status.h"

struct shimkit_health;

/* Longest service name the table accepts (longer names are refused by set). */
#define SHIMKIT__HEALTH_NAME_MAX 512
/* Most names the table holds; set() of a new name beyond it is refused (logged). */
#define SHIMKIT__HEALTH_MAX_ENTRIES 4096

/* An empty table (no name known, not draining), or NULL when out of memory. */
struct shimkit_health *shimkit__health_new(void);

/* Frees the table. Accepts NULL. No Check or Watch may still be running. */
void shimkit__health_free(struct shimkit_health *h);

/*
 * Sets the status of service ("" = whole server), adding the name if new;
 * Watch streams see the change at once. After a drain the stored value
 * changes but every name still reads NOT_SERVING.
 */
void shimkit__health_set(struct shimkit_health *h, const char *service, shimkit_health_status st);

/*
 * Marks the table draining: every name reads NOT_SERVING from now on, Watch
 * streams are told at once and then end (UNAVAILABLE), so they do not hold
 * the graceful shutdown open. Idempotent.
 */
void shimkit__health_drain(struct shimkit_health *h);

/*
 * Status of service as Check reports it: 0 and *st, or -1 when the name is
 * unknown. (Exposed for unit tests and the server's own use.)
 */
int shimkit__health_get(struct shimkit_health *h, const char *service, shimkit_health_status *st);

/* Registers grpc.health.v1.Health on srv (through shimkit_server_add_service). */
shimkit_code shimkit__health_register(shimkit_server *srv);

#endif /* SHIMKIT_HEALTH_H */
