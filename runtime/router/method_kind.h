/*
 * method_kind.h - which methods are unary, learned from the replicas' own
 * reflection, so that the router forwards their calls in one batch each way
 * (shimkit_forward_plan.unary) instead of message by message.
 *
 * A unary call forwarded the general way costs the router about eleven
 * gRPC events and three writes to the replica; planned as unary, five
 * events and one write (and the replica reads it in one go). Which methods
 * are unary is in their descriptors; a method never seen before is looked
 * up in the background (one lookup at a time, on a detached thread that
 * asks a healthy replica of the call's set), and its calls go the general
 * way until the answer is in. A lookup that fails (no reflection service,
 * an unknown method) is tried again after ROUTER_KIND_RETRY_MS; the calls
 * meanwhile simply take the general path, which works for every method.
 */
#ifndef SHIMKIT_ROUTER_METHOD_KIND_H
#define SHIMKIT_ROUTER_METHOD_KIND_H

#include <stdbool.h>

#define ROUTER_KIND_MAX 1024         /* methods remembered; past it, new methods go the general way */
#define ROUTER_KIND_LOOKUP_MS 3000   /* one reflection lookup, at most */
#define ROUTER_KIND_RETRY_MS 10000   /* a failed lookup is tried again after */

struct router;
struct router_set;

typedef struct router_method_kinds router_method_kinds;

/* An empty table; NULL when out of memory. */
router_method_kinds *router_method_kinds_new(void);

/* Waits for a lookup in flight, then frees the table. Accepts NULL. */
void router_method_kinds_free(router_method_kinds *k);

/*
 * true when method ("/pkg.Svc/Method") is known to be unary. When nothing
 * is known about it yet (or a failed lookup is due again), starts a lookup
 * on a healthy replica of s, unless one is already running, and returns
 * false. Never waits for the network.
 */
bool router_method_is_unary(router_method_kinds *k, const char *method, struct router_set *s);

/* true when method is known to be unary; unlike router_method_is_unary, never starts a lookup. */
bool router_method_known_unary(router_method_kinds *k, const char *method);

#endif /* SHIMKIT_ROUTER_METHOD_KIND_H */
