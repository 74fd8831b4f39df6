/*
 * reflect.h - the router's reflection answers for its replicas' services.
 *
 * The router's own reflection (libshimkit's) knows only the router's
 * services. router_reflection_install() gives it a fallback
 * (shimkit/reflection.h): list_services adds the services a healthy replica
 * lists, and a file query for a name the router does not know is asked of
 * a healthy replica, whose files are passed back. So `grpcurl ROUTER list`,
 * `describe` and calls by name work with no .proto files.
 */
#ifndef SHIMKIT_ROUTER_REFLECT_H
#define SHIMKIT_ROUTER_REFLECT_H

#include <shimkit/shimkit.h>

#include "router.h"

#define ROUTER_REFLECT_MS 3000           /* one question to a replica, at most */
#define ROUTER_REFLECT_LIST_TTL_MS 30000 /* a replica's service list is asked again after this */
#define ROUTER_REFLECT_MAX_SERVICES 512  /* services taken from one list */

/* Installs the fallback on srv (before it starts). The router must outlive srv. */
shimkit_code router_reflection_install(shimkit_server *srv, router *r);

/* Frees the cached service list (after the server is gone). */
void router_reflection_free(void);

#endif /* SHIMKIT_ROUTER_REFLECT_H */
