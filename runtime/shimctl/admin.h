/*
 * admin.h - shimctl's side of the router's admin API
 * (proto/shimkit/router/v1/admin.proto) and of grpc.health.v1, through the
 * generated service tables. Every call has a deadline; failures come back as
 * -1 with the status in err, or, for the RouterAdmin calls, -2 when no
 * answer came (DEADLINE_EXCEEDED, UNAVAILABLE): the router may have applied
 * the change, ask it (ListSets) before assuming either way.
 */
#ifndef SHIMCTL_ADMIN_H
#define SHIMCTL_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "shimkit/router/v1/admin.pb-c.h"
#include "state.h"

#define SHIMCTL_RPC_TIMEOUT_MS 10000

/* The router's admin API for one command: its calls share one channel,
 * opened when the command starts talking to the router and closed when it
 * ends (gRPC reconnects it should the router restart meanwhile). */
typedef struct shimctl_admin shimctl_admin;

/* A handle on the router at address router (connects lazily). NULL when out
 * of memory; the calls below then fail with RESOURCE_EXHAUSTED. */
shimctl_admin *shimctl_admin_open(const char *router);

/* Closes the channel and frees the handle. Accepts NULL. */
void shimctl_admin_close(shimctl_admin *admin);

/* ApplySet of a set from the state: its replicas 0..replicas-1 (by their
 * address: "127.0.0.1:PORT" or "unix:PATH", sockets.h), policy, weight, and
 * the kind's proto service. */
int shimctl_admin_apply(shimctl_admin *admin, const shimctl_set *set, int weight, char *err, size_t err_len);

int shimctl_admin_remove(shimctl_admin *admin, const char *set_name, char *err, size_t err_len);

/* SetWeights(service, {a: wa, b: wb}); b may be NULL. */
int shimctl_admin_weights(shimctl_admin *admin, const char *service, const char *a, int wa, const char *b,
                          int wb, char *err, size_t err_len);

int shimctl_admin_hold(shimctl_admin *admin, const char *service, bool hold, int timeout_ms, char *err,
                       size_t err_len);

/* ListSets; *out is freed by the caller with protobuf_c_message_free_unpacked(&(*out)->base, NULL). */
int shimctl_admin_list(shimctl_admin *admin, int timeout_ms, Shimkit__Router__V1__ListSetsResponse **out,
                       char *err, size_t err_len);

/* Sum of the outstanding calls of set in a ListSets answer; -1 when the set is not listed. */
int shimctl_list_outstanding(const Shimkit__Router__V1__ListSetsResponse *list, const char *set_name);

/* The status of set in a ListSets answer, or NULL. */
const Shimkit__Router__V1__SetStatus *shimctl_list_find(const Shimkit__Router__V1__ListSetsResponse *list,
                                                        const char *set_name);

/* One grpc.health.v1 Check("") of addr: 1 SERVING, 0 anything else or no answer. */
int shimctl_health_serving(const char *addr, int timeout_ms);

/* Waits until every address is SERVING, at most timeout_ms; prints progress
 * lines naming what (label). 0, or -1 naming the ones that were not. */
int shimctl_wait_serving(const char *label, const char *const *addrs, int n, int timeout_ms);

/* Waits until the router lists set_name with n backends, each SERVING in its
 * own health watch (so that no call finds the set without a healthy
 * replica). 0, or -1 after timeout_ms. */
int shimctl_wait_routed(shimctl_admin *admin, const char *set_name, int n, int timeout_ms);

#endif /* SHIMCTL_ADMIN_H */
