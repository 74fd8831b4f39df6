/*
 * route.c - a set of the state as the router sees it (route.h): shared by
 * the admin API's ApplySet and the kubernetes environment's sets file, so
 * both describe a set the same way.
 */
#include "route.h"

#include <string.h>

#include "catalog.h"
#include "state.h"

int shimctl_route_of(const shimctl_set *set, int weight, shimctl_route *out) {
  const shimctl_kind *kind = shimctl_kind_find(set->kind);
  memset(out, 0, sizeof *out);
  if (kind == NULL) {
    return -1;
  }
  out->set = set->name;
  out->service = kind->service;
  out->policy = set->policy;
  out->hash_field = set->hash_field;
  out->hash_key = set->hash_key;
  out->weight = weight;
  out->retry_not_found = kind->replica_local;
  return 0;
}
