/*
 * admin.c - RouterAdmin and health calls (see admin.h). A command's admin
 * calls share the channel of its shimctl_admin; a health check opens its
 * own, since each probes another replica. Every call goes through call().
 */
#define _XOPEN_SOURCE 700
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shimkit/shimkit.h>

#include "catalog.h"
#include "grpc/health/v1/health.shimkit.h"
#include "route.h"
#include "sockets.h"
#include "shimkit/router/v1/admin.shimkit.h"

struct shimctl_admin {
  shimkit_channel *ch; /* to the router, for the command's lifetime */
};

shimctl_admin *shimctl_admin_open(const char *router) {
  shimctl_admin *a = calloc(1, sizeof *a);
  if (a != NULL && (a->ch = shimkit_channel_new(router, NULL, 0)) == NULL) {
    free(a);
    a = NULL;
  }
  return a;
}

void shimctl_admin_close(shimctl_admin *admin) {
  if (admin != NULL) {
    shimkit_channel_free(admin->ch);
    free(admin);
  }
}

/*
 * One unary call of method on ch (NULL: RESOURCE_EXHAUSTED) with a deadline.
 * 0, with the reply in *resp (the caller's to free) or freed here when resp
 * is NULL; or -1 with "Method: CODE[: message]" in err (*resp NULL).
 */
static int call(shimkit_channel *ch, const shimkit_method_desc *method, const void *req,
                ProtobufCMessage **resp, int timeout_ms, char *err, size_t err_len) {
  shimkit_status status = {0};
  shimkit_call_options o = {.timeout_ms = timeout_ms, .status_out = &status};
  ProtobufCMessage *reply = NULL;
  shimkit_code code =
      ch != NULL ? shimkit_unary_call(ch, method, req, &reply, &o) : SHIMKIT_RESOURCE_EXHAUSTED;
  if (code != SHIMKIT_OK) {
    snprintf(err, err_len, "%s: %s%s%s", method->name, shimkit_code_name(code),
             status.message != NULL ? ": " : "", status.message != NULL ? status.message : "");
  }
  shimkit_status_clear(&status);
  if (resp != NULL) {
    *resp = reply;
  } else if (reply != NULL) {
    protobuf_c_message_free_unpacked(reply, NULL);
  }
  return code == SHIMKIT_OK ? 0 : -1;
}

/* A RouterAdmin method by its index in the generated table. */
static const shimkit_method_desc *admin_method(int index) {
  return &shimkit__router__v1__router_admin__shimkit_service.methods[index];
}

/*
 * SHIMCTL_TEST_LOSE_ANSWER=Method (tests only): the first call of Method
 * that succeeds is reported as DEADLINE_EXCEEDED, as if its answer was lost
 * after the router applied it (the swap benchmark's case, made
 * deterministic for e2e.shimctl.swap_*).
 */
static bool lose_answer(const shimkit_method_desc *m, ProtobufCMessage **resp, char *err, size_t err_len) {
  static bool lost;
  const char *which = getenv("SHIMCTL_TEST_LOSE_ANSWER");
  if (lost || which == NULL || strcmp(which, m->name) != 0) {
    return false;
  }
  lost = true;
  if (resp != NULL && *resp != NULL) {
    protobuf_c_message_free_unpacked(*resp, NULL);
    *resp = NULL;
  }
  snprintf(err, err_len, "%s: DEADLINE_EXCEEDED: Deadline Exceeded (SHIMCTL_TEST_LOSE_ANSWER)", m->name);
  return true;
}

/* -1 when the router answered with an error (nothing applied); -2 when the
 * answer did not come (DEADLINE_EXCEEDED, UNAVAILABLE): it may have been applied. */
static int admin_call(shimctl_admin *admin, int index, const void *req, ProtobufCMessage **resp,
                      int timeout_ms, char *err, size_t err_len) {
  const shimkit_method_desc *m = admin_method(index);
  int rc = call(admin != NULL ? admin->ch : NULL, m, req, resp, timeout_ms, err, err_len);
  if (rc == 0 && lose_answer(m, resp, err, err_len)) {
    return -2;
  }
  if (rc != 0 && (strstr(err, ": DEADLINE_EXCEEDED") != NULL || strstr(err, ": UNAVAILABLE") != NULL)) {
    return -2;
  }
  return rc;
}

int shimctl_admin_apply(shimctl_admin *admin, const shimctl_set *set, int weight, char *err, size_t err_len) {
  shimctl_route route;
  if (shimctl_route_of(set, weight, &route) != 0) {
    snprintf(err, err_len, "unknown kind %s", set->kind);
    return -1;
  }
  char addrs[SHIMCTL_MAX_REPLICAS][SHIMCTL_ADDR];
  char *backends[SHIMCTL_MAX_REPLICAS];
  size_t n = 0;
  for (int i = 0; i < set->n_rep && n < SHIMCTL_MAX_REPLICAS; i++) {
    if (set->rep[i].index < set->replicas) {
      shimctl_replica_addr(&set->rep[i], addrs[n], sizeof addrs[n]);
      backends[n] = addrs[n];
      n++;
    }
  }
  char *services[1] = {(char *)route.service};
  Shimkit__Router__V1__Set s = SHIMKIT__ROUTER__V1__SET__INIT;
  s.name = (char *)route.set;
  s.n_services = 1;
  s.services = services;
  s.n_backends = n;
  s.backends = backends;
  s.policy = (Shimkit__Router__V1__Policy)route.policy;
  s.hash_field = (char *)route.hash_field;
  s.hash_key = (char *)route.hash_key;
  s.weight = (uint32_t)route.weight;
  s.retry_not_found = route.retry_not_found;
  Shimkit__Router__V1__ApplySetRequest req = SHIMKIT__ROUTER__V1__APPLY_SET_REQUEST__INIT;
  req.set = &s;
  return admin_call(admin, SHIMKIT__ROUTER__V1__ROUTER_ADMIN__SHIMKIT_APPLY_SET, &req, NULL,
                    SHIMCTL_RPC_TIMEOUT_MS, err, err_len);
}

int shimctl_admin_remove(shimctl_admin *admin, const char *set_name, char *err, size_t err_len) {
  Shimkit__Router__V1__RemoveSetRequest req = SHIMKIT__ROUTER__V1__REMOVE_SET_REQUEST__INIT;
  req.name = (char *)set_name;
  return admin_call(admin, SHIMKIT__ROUTER__V1__ROUTER_ADMIN__SHIMKIT_REMOVE_SET, &req, NULL,
                    SHIMCTL_RPC_TIMEOUT_MS, err, err_len);
}

int shimctl_admin_weights(shimctl_admin *admin, const char *service, const char *a, int wa, const char *b,
                          int wb, char *err, size_t err_len) {
  Shimkit__Router__V1__SetWeightsRequest__WeightsEntry e[2] = {
      SHIMKIT__ROUTER__V1__SET_WEIGHTS_REQUEST__WEIGHTS_ENTRY__INIT,
      SHIMKIT__ROUTER__V1__SET_WEIGHTS_REQUEST__WEIGHTS_ENTRY__INIT};
  Shimkit__Router__V1__SetWeightsRequest__WeightsEntry *ep[2] = {&e[0], &e[1]};
  e[0].key = (char *)a;
  e[0].value = (uint32_t)wa;
  e[1].key = (char *)b;
  e[1].value = (uint32_t)wb;
  Shimkit__Router__V1__SetWeightsRequest req = SHIMKIT__ROUTER__V1__SET_WEIGHTS_REQUEST__INIT;
  req.service = (char *)service;
  req.n_weights = b != NULL ? 2 : 1;
  req.weights = ep;
  return admin_call(admin, SHIMKIT__ROUTER__V1__ROUTER_ADMIN__SHIMKIT_SET_WEIGHTS, &req, NULL,
                    SHIMCTL_RPC_TIMEOUT_MS, err, err_len);
}

int shimctl_admin_hold(shimctl_admin *admin, const char *service, bool hold, int timeout_ms, char *err,
                       size_t err_len) {
  Shimkit__Router__V1__HoldServiceRequest req = SHIMKIT__ROUTER__V1__HOLD_SERVICE_REQUEST__INIT;
  req.service = (char *)service;
  req.hold = hold;
  req.hold_timeout_ms = (uint32_t)timeout_ms;
  return admin_call(admin, SHIMKIT__ROUTER__V1__ROUTER_ADMIN__SHIMKIT_HOLD_SERVICE, &req, NULL,
                    SHIMCTL_RPC_TIMEOUT_MS, err, err_len);
}

int shimctl_admin_list(shimctl_admin *admin, int timeout_ms, Shimkit__Router__V1__ListSetsResponse **out,
                       char *err, size_t err_len) {
  Shimkit__Router__V1__ListSetsRequest req = SHIMKIT__ROUTER__V1__LIST_SETS_REQUEST__INIT;
  ProtobufCMessage *reply = NULL;
  int rc = admin_call(admin, SHIMKIT__ROUTER__V1__ROUTER_ADMIN__SHIMKIT_LIST_SETS, &req, &reply, timeout_ms,
                      err, err_len);
  *out = (Shimkit__Router__V1__ListSetsResponse *)reply;
  return rc;
}

const Shimkit__Router__V1__SetStatus *shimctl_list_find(const Shimkit__Router__V1__ListSetsResponse *list,
                                                        const char *set_name) {
  for (size_t i = 0; list != NULL && i < list->n_sets; i++) {
    const Shimkit__Router__V1__SetStatus *s = list->sets[i];
    if (s->set != NULL && s->set->name != NULL && strcmp(s->set->name, set_name) == 0) {
      return s;
    }
  }
  return NULL;
}

int shimctl_list_outstanding(const Shimkit__Router__V1__ListSetsResponse *list, const char *set_name) {
  const Shimkit__Router__V1__SetStatus *s = shimctl_list_find(list, set_name);
  if (s == NULL) {
    return -1;
  }
  int sum = 0;
  for (size_t i = 0; i < s->n_backends; i++) {
    sum += s->backends[i]->outstanding;
  }
  return sum;
}

int shimctl_health_serving(const char *addr, int timeout_ms) {
  Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  req.service = "";
  shimkit_channel *ch = shimkit_channel_new(addr, NULL, 0);
  if (ch == NULL) {
    return 0;
  }
  ProtobufCMessage *reply = NULL;
  int ok =
      call(ch, &grpc__health__v1__health__shimkit_service.methods[GRPC__HEALTH__V1__HEALTH__SHIMKIT_CHECK],
           &req, &reply, timeout_ms, NULL, 0) == 0;
  const Grpc__Health__V1__HealthCheckResponse *resp = (const Grpc__Health__V1__HealthCheckResponse *)reply;
  int serving =
      ok && resp != NULL && resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  if (reply != NULL) {
    protobuf_c_message_free_unpacked(reply, NULL);
  }
  shimkit_channel_free(ch);
  return serving;
}

int shimctl_wait_serving(const char *label, const char *const *addrs, int n, int timeout_ms) {
  bool done[SHIMCTL_MAX_REPLICAS + 1] = {false};
  int serving = 0, last_reported = -1;
  int64_t deadline = shimctl_mono_ms() + timeout_ms;
  while (serving < n) {
    for (int i = 0; i < n && i <= SHIMCTL_MAX_REPLICAS; i++) {
      if (!done[i] && shimctl_health_serving(addrs[i], 1000)) {
        done[i] = true;
        serving++;
      }
    }
    if (serving != last_reported) {
      printf("shimctl: %s: %d/%d SERVING\n", label, serving, n);
      fflush(stdout);
      last_reported = serving;
    }
    if (serving == n) {
      break;
    }
    if (shimctl_mono_ms() > deadline) {
      for (int i = 0; i < n; i++) {
        if (!done[i]) {
          fprintf(stderr, "shimctl: %s: %s is not SERVING after %d ms\n", label, addrs[i], timeout_ms);
        }
      }
      return -1;
    }
    shimctl_sleep_ms(100);
  }
  return 0;
}

int shimctl_wait_routed(shimctl_admin *admin, const char *set_name, int n, int timeout_ms) {
  int64_t deadline = shimctl_mono_ms() + timeout_ms;
  char err[512] = "";
  int serving = 0;
  for (;;) {
    Shimkit__Router__V1__ListSetsResponse *list = NULL;
    serving = 0;
    int total = -1;
    if (shimctl_admin_list(admin, 3000, &list, err, sizeof err) == 0) {
      const Shimkit__Router__V1__SetStatus *s = shimctl_list_find(list, set_name);
      if (s != NULL) {
        total = (int)s->n_backends;
        for (size_t i = 0; i < s->n_backends; i++) {
          serving += s->backends[i]->serving ? 1 : 0;
        }
      }
    }
    if (list != NULL) {
      protobuf_c_message_free_unpacked(&list->base, NULL);
    }
    if (total == n && serving == n) {
      return 0;
    }
    if (shimctl_mono_ms() > deadline) {
      fprintf(stderr, "shimctl: the router sees %d of %d replicas of %s SERVING after %d ms%s%s\n", serving,
              n, set_name, timeout_ms, err[0] ? ": " : "", err);
      return -1;
    }
    shimctl_sleep_ms(20);
  }
}
