/*
 * server_internal.h - what the built-in services (health.c, reflection.c)
 * may ask of a shimkit_server.
 *
 * The builtins are ordinary services registered through the public
 * shimkit_server_add_service(); reflection needs the list of services to
 * answer list_services and file queries, and the health service needs the
 * server's health store. This is the whole interface between them and the
 * server core; the server's struct stays private to server_core.h.
 */
#ifndef SHIMKIT_SERVER_INTERNAL_H
#define SHIMKIT_SERVER_INTERNAL_H

#include <stddef.h>

#include "shimkit/server.h"
#include "shimkit/service.h"

struct shimkit_health;

/* Number of services added so far (builtins included). */
size_t shimkit__server_service_count(const shimkit_server *srv);

/* Service i in the order added, or NULL when i is out of range. Owned by the caller of add_service. */
const shimkit_service_desc *shimkit__server_service_at(const shimkit_server *srv, size_t i);

/* The server's health store (created by shimkit_server_new, never NULL for a live server). */
struct shimkit_health *shimkit__server_health(shimkit_server *srv);

#endif /* SHIMKIT_SERVER_INTERNAL_H */
