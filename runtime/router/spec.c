/*
 * spec.c - copying, freeing and validating set specs (spec.h). The
 * validation is the one place that decides what a good set is, for the admin
 * API and for the state file alike, with messages an operator can act on.
 */
#define _POSIX_C_SOURCE 200809L
#include "spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns_table.h"
#include "ip_port.h"

static void free_list(char **list, int n) {
  for (int i = 0; i < n; i++) {
    free(list[i]);
  }
  free(list);
}

void router_spec_clear(router_set_spec *s) {
  if (s == NULL) {
    return;
  }
  free(s->name);
  free_list(s->services, s->n_services);
  free_list(s->backends, s->n_backends);
  free(s->hash_field);
  free(s->hash_key);
  memset(s, 0, sizeof *s);
}

int router_spec_push(char ***list, int *n, const char *value) {
  char **grown = realloc(*list, (size_t)(*n + 1) * sizeof *grown);
  if (grown == NULL) {
    return -1;
  }
  *list = grown;
  grown[*n] = strdup(value);
  if (grown[*n] == NULL) {
    return -1;
  }
  (*n)++;
  return 0;
}

static int dup_opt(char **dst, const char *src) {
  *dst = NULL;
  if (src != NULL && (*dst = strdup(src)) == NULL) {
    return -1;
  }
  return 0;
}

int router_spec_copy(router_set_spec *dst, const router_set_spec *src) {
  memset(dst, 0, sizeof *dst);
  dst->policy = src->policy;
  dst->weight = src->weight;
  dst->retry_not_found = src->retry_not_found;
  int rc = dup_opt(&dst->name, src->name);
  rc |= dup_opt(&dst->hash_field, src->hash_field);
  rc |= dup_opt(&dst->hash_key, src->hash_key);
  for (int i = 0; rc == 0 && i < src->n_services; i++) {
    rc = router_spec_push(&dst->services, &dst->n_services, src->services[i]);
  }
  for (int i = 0; rc == 0 && i < src->n_backends; i++) {
    rc = router_spec_push(&dst->backends, &dst->n_backends, src->backends[i]);
  }
  if (rc != 0) {
    router_spec_clear(dst);
    return -1;
  }
  return 0;
}

const char *router_policy_name(router_policy p) {
  switch (p) {
    case ROUTER_ROUND_ROBIN: return "round_robin";
    case ROUTER_LEAST_OUTSTANDING: return "least_outstanding";
    case ROUTER_HASH: return "hash";
  }
  return "?";
}

int router_policy_parse(const char *name, router_policy *out) {
  static const router_policy all[] = {ROUTER_ROUND_ROBIN, ROUTER_LEAST_OUTSTANDING, ROUTER_HASH};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (strcmp(name, router_policy_name(all[i])) == 0) {
      *out = all[i];
      return 0;
    }
  }
  return -1;
}

bool router_valid_field_path(const char *p) {
  int steps = 1;
  bool start = true;
  for (; *p != '\0'; p++) {
    bool letter = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_';
    if (*p == '.' && !start) {
      start = true;
      steps++;
    } else if (letter || (!start && *p >= '0' && *p <= '9')) {
      start = false;
    } else {
      return false;
    }
  }
  return !start && steps <= 16;
}

bool router_valid_hash_key(const char *k) {
  if (*k == '\0' || strncmp(k, "grpc-", 5) == 0 || strlen(k) > ROUTER_MAX_NAME) {
    return false;
  }
  for (; *k != '\0'; k++) {
    if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '-' || *k == '_' || *k == '.')) {
      return false;
    }
  }
  return true;
}

/* The services the router answers itself (its gRPC server), whatever the sets list. */
static const char *const own_services[] = {
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "shimkit.router.v1.RouterAdmin",
};

bool router_own_service(const char *service, size_t len) {
  for (size_t i = 0; i < sizeof own_services / sizeof own_services[0]; i++) {
    if (strlen(own_services[i]) == len && memcmp(own_services[i], service, len) == 0) {
      return true;
    }
  }
  return false;
}

/* Non-empty, at most ROUTER_MAX_NAME, every byte alphanumeric or in extra. */
static bool word_of(const char *s, const char *extra) {
  size_t n = strlen(s);
  if (n == 0 || n > ROUTER_MAX_NAME) {
    return false;
  }
  for (; *s != '\0'; s++) {
    bool alnum = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9');
    if (!alnum && strchr(extra, *s) == NULL) {
      return false;
    }
  }
  return true;
}

/* "host:port" (or "[v6]:port"): a host of [A-Za-z0-9.-] (or a bracketed v6
 * literal) and a decimal port 1..65535; or "unix:PATH" (ip_port.h). */
static bool valid_address(const char *a) {
  size_t n = strlen(a);
  if (n == 0 || n > ROUTER_MAX_ADDRESS) {
    return false;
  }
  if (strncmp(a, "unix:", 5) == 0) {
    return router_unix_address(a);
  }
  const char *colon = strrchr(a, ':');
  if (colon == NULL || colon == a || colon[1] == '\0') {
    return false;
  }
  long port = 0;
  for (const char *p = colon + 1; *p != '\0'; p++) {
    if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535) {
      return false;
    }
  }
  if (port < 1) {
    return false;
  }
  if (a[0] == '[') {
    if (colon[-1] != ']') {
      return false;
    }
    for (const char *p = a + 1; p < colon - 1; p++) {
      if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') || *p == ':')) {
        return false;
      }
    }
    return colon - a > 2;
  }
  for (const char *p = a; p < colon; p++) {
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
          *p == '-')) {
      return false;
    }
  }
  return true;
}

int router_spec_validate(const router_set_spec *s, char *err, size_t cap) {
#define FAIL(...)                         \
  do {                                    \
    snprintf(err, cap, __VA_ARGS__);      \
    return -1;                            \
  } while (0)
  if (s->name == NULL || s->name[0] == '\0') {
    FAIL("a set needs a name");
  }
  if (!word_of(s->name, "._-")) {
    FAIL("set name \"%.64s\" may only have letters, digits, '.', '_' and '-' (at most %d)", s->name,
         ROUTER_MAX_NAME);
  }
  if (s->n_services > ROUTER_MAX_SERVICES) {
    FAIL("set \"%s\": at most %d services", s->name, ROUTER_MAX_SERVICES);
  }
  for (int i = 0; i < s->n_services; i++) {
    if (!word_of(s->services[i], "._")) {
      FAIL("set \"%s\": \"%.64s\" is not a full service name (e.g. shimkit.ml.v1.Training)", s->name,
           s->services[i]);
    }
    for (int j = 0; j < i; j++) {
      if (strcmp(s->services[i], s->services[j]) == 0) {
        FAIL("set \"%s\": service %s is listed twice", s->name, s->services[i]);
      }
    }
  }
  if (s->n_backends == 0) {
    FAIL("set \"%s\" has no backends (give at least one host:port)", s->name);
  }
  if (s->n_backends > ROUTER_MAX_BACKENDS) {
    FAIL("set \"%s\": at most %d backends", s->name, ROUTER_MAX_BACKENDS);
  }
  for (int i = 0; i < s->n_backends; i++) {
    char host[ROUTER_DNS_MAX_HOST + 2];
    unsigned port;
    if (router_is_dns_backend(s->backends[i])
            ? router_dns_split(s->backends[i], host, sizeof host, &port) != 0
            : !valid_address(s->backends[i])) {
      FAIL("set \"%s\": backend \"%.64s\" is not host:port, dns:HOST:PORT (an RFC 1123 host name; "
           "port 1-65535) or unix:PATH (at most 107 bytes of letters, digits and ._/+~@=,-)",
           s->name, s->backends[i]);
    }
    for (int j = 0; j < i; j++) {
      if (strcmp(s->backends[i], s->backends[j]) == 0) {
        FAIL("set \"%s\": backend %s is listed twice", s->name, s->backends[i]);
      }
    }
  }
  bool field = s->hash_field != NULL && s->hash_field[0] != '\0';
  bool key = s->hash_key != NULL && s->hash_key[0] != '\0';
  if ((unsigned)s->policy > ROUTER_HASH) {
    FAIL("set \"%s\": unknown policy %d", s->name, (int)s->policy);
  }
  if (s->policy == ROUTER_HASH) {
    if (field && key) {
      FAIL("set \"%s\": policy HASH takes hash_field or hash_key, not both", s->name);
    }
    if (!field && !key) {
      FAIL("set \"%s\": policy HASH needs hash_field (a request field) or hash_key (a metadata key)", s->name);
    }
  } else if (field || key) {
    FAIL("set \"%s\": hash_field and hash_key go with policy HASH only", s->name);
  }
  if (key && !router_valid_hash_key(s->hash_key)) {
    FAIL("set \"%s\": hash_key \"%.64s\" must be a lower-case metadata key (a-z 0-9 - _ .), not grpc-*", s->name,
         s->hash_key);
  }
  if (field && (strlen(s->hash_field) > ROUTER_MAX_NAME || !router_valid_field_path(s->hash_field))) {
    FAIL("set \"%s\": hash_field \"%.64s\" must be a field path such as key.entity_id", s->name, s->hash_field);
  }
  if (s->weight > ROUTER_MAX_WEIGHT) {
    FAIL("set \"%s\": weight %u is over %u", s->name, s->weight, ROUTER_MAX_WEIGHT);
  }
  return 0;
#undef FAIL
}
