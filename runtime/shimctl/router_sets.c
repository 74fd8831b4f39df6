/*
 * router_sets.c - the router's sets file from shimctl's routes
 * (router_sets.h). The text is the router's own (router_state_format of
 * runtime/router/state.c): shimctl does not keep a second writer of the
 * format, and checks each set with the router's own validation.
 */
#define _POSIX_C_SOURCE 200809L
#include "router_sets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../router/state.h" /* the router's (this folder's state.h is shimctl's) */
#include "stack.h"

static router_policy policy_of(int p) {
  switch (p) {
  case SHIMCTL_POLICY_LEAST_OUTSTANDING: return ROUTER_LEAST_OUTSTANDING;
  case SHIMCTL_POLICY_HASH: return ROUTER_HASH;
  default: return ROUTER_ROUND_ROBIN;
  }
}

static const char *opt(const char *s) {
  return s != NULL && s[0] != '\0' ? s : NULL;
}

char *shimctl_router_sets_text(const shimctl_route *routes, const char *const *backends, size_t n,
                               size_t *len, char *err, size_t errlen) {
  if (n > ROUTER_MAX_SETS) {
    snprintf(err, errlen, "%zu sets: the router takes at most %d", n, ROUTER_MAX_SETS);
    return NULL;
  }
  router_set_spec specs[ROUTER_MAX_SETS];
  char *services[ROUTER_MAX_SETS][1], *addr[ROUTER_MAX_SETS][1];
  memset(specs, 0, sizeof specs);
  for (size_t i = 0; i < n; i++) {
    const shimctl_route *r = &routes[i];
    /* Borrowed strings: the specs are only checked and formatted, never freed. */
    services[i][0] = (char *)r->service;
    addr[i][0] = (char *)backends[i];
    specs[i] = (router_set_spec){
        .name = (char *)r->set,
        .services = services[i],
        .n_services = r->service != NULL ? 1 : 0,
        .backends = addr[i],
        .n_backends = backends[i] != NULL ? 1 : 0,
        .policy = policy_of(r->policy),
        .hash_field = (char *)opt(r->hash_field),
        .hash_key = (char *)opt(r->hash_key),
        .weight = r->weight < 0 ? 0 : (uint32_t)r->weight,
        .retry_not_found = r->retry_not_found,
    };
    char why[256];
    if (router_spec_validate(&specs[i], why, sizeof why) != 0) {
      snprintf(err, errlen, "router sets file: %s", why);
      return NULL;
    }
    for (size_t j = 0; j < i; j++) {
      if (strcmp(specs[j].name, r->set) == 0) {
        snprintf(err, errlen, "router sets file: set %s twice", r->set);
        return NULL;
      }
    }
  }
  size_t flen = 0;
  char *text = router_state_format(specs, (int)n, &flen);
  if (text == NULL) {
    snprintf(err, errlen, "router sets file: out of memory");
    return NULL;
  }
  /* Its first line is the writer's comment for a --state file: say what this file is instead. */
  static const char head[] =
      "# shimkit_router --sets-file, written by shimctl: read at start, never written\n";
  const char *body = text;
  if (body[0] == '#') {
    const char *nl = strchr(body, '\n');
    body = nl != NULL ? nl + 1 : body + flen;
  }
  size_t blen = flen - (size_t)(body - text);
  char *out = malloc(sizeof head + blen);
  if (out == NULL) {
    free(text);
    snprintf(err, errlen, "router sets file: out of memory");
    return NULL;
  }
  memcpy(out, head, sizeof head - 1);
  memcpy(out + sizeof head - 1, body, blen + 1);
  *len = sizeof head - 1 + blen;
  free(text);
  return out;
}
