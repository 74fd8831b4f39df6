/*
 * router_sets.h - the router's sets file (shimkit_router --sets-file), as
 * the kubernetes environment gives the router its sets: the text of the
 * router's --state file (runtime/router/state.h), written by the router's
 * own writer (router_state_format, linked from router_core), one set per
 * route with the given replica address ("dns:HOST:PORT": the router
 * resolves HOST and keeps one replica per address).
 */
#ifndef SHIMCTL_ROUTER_SETS_H
#define SHIMCTL_ROUTER_SETS_H

#include <stddef.h>

#include "route.h"

/*
 * The sets file text of routes[0..n), route i with the one backend
 * backends[i]. Every set is checked as the router checks a set it reads
 * (router_spec_validate, runtime/router/spec.h), so that the router does
 * not refuse the file at start. malloc'd and
 * NUL-terminated (*len without the NUL), or NULL with a reason in err.
 */
char *shimctl_router_sets_text(const shimctl_route *routes, const char *const *backends, size_t n,
                               size_t *len, char *err, size_t errlen);

#endif /* SHIMCTL_ROUTER_SETS_H */
