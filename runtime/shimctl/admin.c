/*
 * admin.c - RouterAdmin and health calls (see admin.h). A channel per call:
 * shimctl makes few calls and must not keep a connection across the
 * router's restarts.
 */
#define _XOPEN_SOURCE 700
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shimkit/shimkit.h>

#include "catalog.h"
#include "grpc/health/v1/health.shimkit.h"
#include "shimkit/router/v1/admin.shimkit.h"

static shimkit_call_options opts_with(shimkit_status *status, int timeout_ms) {
  shimkit_call_options o = {0};
  o.timeout_ms = timeout_ms;
  o.status_out = status;
  return o;
}

static int finish(shimkit_code code, shimkit_status *status, const char *what, char *err, size_t err_len) {
  if (code == SHIMKIT_OK) {
    shimkit_status_clear(status);
    return 0;
  }
  snprintf(err, err_len, "%s: %s%s%s", what, shimkit_code_name(code), status->message != NULL ? ": " : "",
           status->message != NULL ? status->message : "");
  shimkit_status_clear(status);
  return -1;
}

int shimctl_admin_apply(const char *router, const shimctl_set *set, int weight, char *err, size_t err_len) {
  const shimctl_kind *kind = shimctl_kind_find(set->kind);
  if (kind == NULL) {
    snprintf(err, err_len, "unknown kind %s", set->kind);
    return -1;
  }
  char addrs[SHIMCTL_MAX_REPLICAS][64];
  char *backends[SHIMCTL_MAX_REPLICAS];
  size_t n = 0;
  for (int i = 0; i < set->n_rep && n < SHIMCTL_MAX_REPLICAS; i++) {
    if (set->rep[i].index < set->replicas) {
      snprintf(addrs[n], sizeof addrs[n], "127.0.0.1:%d", set->rep[i].port);
      backends[n] = addrs[n];
      n++;
    }
  }
  char *services[1] = {(char *)kind->service};
  Shimkit__Router__V1__Set s = SHIMKIT__ROUTER__V1__SET__INIT;
  s.name = (char *)set->name;
  s.n_services = 1;
  s.services = services;
  s.n_backends = n;
  s.backends = backends;
  s.policy = (Shimkit__Router__V1__Policy)set->policy;
  s.hash_field = (char *)set->hash_field;
  s.hash_key = (char *)set->hash_key;
  s.weight = (uint32_t)weight;
  Shimkit__Router__V1__ApplySetRequest req = SHIMKIT__ROUTER__V1__APPLY_SET_REQUEST__INIT;
  req.set = &s;
  shimkit_channel *ch = shimkit_channel_new(router, NULL, 0);
  shimkit_status status = {0};
  shimkit_call_options o = opts_with(&status, SHIMCTL_RPC_TIMEOUT_MS);
  Shimkit__Router__V1__SetStatus *resp = NULL;
  shimkit_code code = ch != NULL ? shimkit__router__v1__router_admin__shimkit_apply_set(ch, &req, &resp, &o)
                                 : SHIMKIT_RESOURCE_EXHAUSTED;
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  shimkit_channel_free(ch);
  return finish(code, &status, "ApplySet", err, err_len);
}

int shimctl_admin_remove(const char *router, const char *set_name, char *err, size_t err_len) {
  Shimkit__Router__V1__RemoveSetRequest req = SHIMKIT__ROUTER__V1__REMOVE_SET_REQUEST__INIT;
  req.name = (char *)set_name;
  shimkit_channel *ch = shimkit_channel_new(router, NULL, 0);
  shimkit_status status = {0};
  shimkit_call_options o = opts_with(&status, SHIMCTL_RPC_TIMEOUT_MS);
  Shimkit__Router__V1__RemoveSetResponse *resp = NULL;
  shimkit_code code = ch != NULL ? shimkit__router__v1__router_admin__shimkit_remove_set(ch, &req, &resp, &o)
                                 : SHIMKIT_RESOURCE_EXHAUSTED;
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  shimkit_channel_free(ch);
  return finish(code, &status, "RemoveSet", err, err_len);
}

int shimctl_admin_weights(const char *router, const char *service, const char *a, int wa, const char *b, int wb,
                          char *err, size_t err_len) {
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
  shimkit_channel *ch = shimkit_channel_new(router, NULL, 0);
  shimkit_status status = {0};
  shimkit_call_options o = opts_with(&status, SHIMCTL_RPC_TIMEOUT_MS);
  Shimkit__Router__V1__SetWeightsResponse *resp = NULL;
  shimkit_code code = ch != NULL ? shimkit__router__v1__router_admin__shimkit_set_weights(ch, &req, &resp, &o)
                                 : SHIMKIT_RESOURCE_EXHAUSTED;
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  shimkit_channel_free(ch);
  return finish(code, &status, "SetWeights", err, err_len);
}

int shimctl_admin_hold(const char *router, const char *service, bool hold, int timeout_ms, char *err,
                       size_t err_len) {
  Shimkit__Router__V1__HoldServiceRequest req = SHIMKIT__ROUTER__V1__HOLD_SERVICE_REQUEST__INIT;
  req.service = (char *)service;
  req.hold = hold;
  req.hold_timeout_ms = (uint32_t)timeout_ms;
  shimkit_channel *ch = shimkit_channel_new(router, NULL, 0);
  shimkit_status status = {0};
  shimkit_call_options o = opts_with(&status, SHIMCTL_RPC_TIMEOUT_MS);
  Shimkit__Router__V1__HoldServiceResponse *resp = NULL;
  shimkit_code code = ch != NULL ? shimkit__router__v1__router_admin__shimkit_hold_service(ch, &req, &resp, &o)
                                 : SHIMKIT_RESOURCE_EXHAUSTED;
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  shimkit_channel_free(ch);
  return finish(code, &status, "HoldService", err, err_len);
}

int shimctl_admin_list(const char *router, int timeout_ms, Shimkit__Router__V1__ListSetsResponse **out, char *err,
                       size_t err_len) {
  Shimkit__Router__V1__ListSetsRequest req = SHIMKIT__ROUTER__V1__LIST_SETS_REQUEST__INIT;
  shimkit_channel *ch = shimkit_channel_new(router, NULL, 0);
  shimkit_status status = {0};
  shimkit_call_options o = opts_with(&status, timeout_ms);
  *out = NULL;
  shimkit_code code = ch != NULL ? shimkit__router__v1__router_admin__shimkit_list_sets(ch, &req, out, &o)
                                 : SHIMKIT_RESOURCE_EXHAUSTED;
  shimkit_channel_free(ch);
  return finish(code, &status, "ListSets", err, err_len);
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
  shimkit_status status = {0};
  shimkit_call_options o = opts_with(&status, timeout_ms);
  Grpc__Health__V1__HealthCheckResponse *resp = NULL;
  shimkit_code code = grpc__health__v1__health__shimkit_check(ch, &req, &resp, &o);
  int serving = code == SHIMKIT_OK && resp != NULL &&
                resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  if (resp != NULL) {
    protobuf_c_message_free_unpacked(&resp->base, NULL);
  }
  shimkit_status_clear(&status);
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

int shimctl_wait_routed(const char *router, const char *set_name, int n, int timeout_ms) {
  int64_t deadline = shimctl_mono_ms() + timeout_ms;
  char err[512] = "";
  int serving = 0;
  for (;;) {
    Shimkit__Router__V1__ListSetsResponse *list = NULL;
    serving = 0;
    int total = -1;
    if (shimctl_admin_list(router, 3000, &list, err, sizeof err) == 0) {
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
      fprintf(stderr, "shimctl: the router sees %d of %d replicas of %s SERVING after %d ms%s%s\n", serving, n,
              set_name, timeout_ms, err[0] ? ": " : "", err);
      return -1;
    }
    shimctl_sleep_ms(20);
  }
}
