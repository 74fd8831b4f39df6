/*
 * admin.h - shimctl's side of the router's admin API
 * (proto/shimkit/router/v1/admin.proto) and of grpc.health.v1, through the
 * generated client stubs. Every call has a deadline; failures come back as
 * -1 with the status in err.
 */
#ifndef SHIMCTL_ADMIN_H
#define SHIMCTL_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "shimkit/router/v1/admin.pb-c.h"
#include "state.h"

#define SHIMCTL_RPC_TIMEOUT_MS 10000

/* ApplySet of a set from the state: its replicas 0..replicas-1 (by port on
 * 127.0.0.1), policy, weight, and the kind's proto service. */
int shimctl_admin_apply(const char *router, const shimctl_set *set, int weight, char *err, size_t err_len);

int shimctl_admin_remove(const char *router, const char *set_name, char *err, size_t err_len);

/* SetWeights(service, {a: wa, b: wb}); b may be NULL. */
int shimctl_admin_weights(const char *router, const char *service, const char *a, int wa, const char *b, int wb,
                          char *err, size_t err_len);

int shimctl_admin_hold(const char *router, const char *service, bool hold, int timeout_ms, char *err,
                       size_t err_len);

/* ListSets; *out is freed by the caller with protobuf_c_message_free_unpacked(&(*out)->base, NULL). */
int shimctl_admin_list(const char *router, int timeout_ms, Shimkit__Router__V1__ListSetsResponse **out, char *err,
                       size_t err_len);

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
int shimctl_wait_routed(const char *router, const char *set_name, int n, int timeout_ms);

#endif /* SHIMCTL_ADMIN_H */
