/*
 * route.h - how the router routes to one set of the stack: what shimctl's
 * ApplySet says about it (admin.c) and what the kubernetes environment
 * writes into the router's sets file (router_sets.c), from one description:
 * the set's name, its kind's proto service, policy, hash field or key,
 * weight, and whether a NOT_FOUND is asked of the other replicas. Its replicas are the caller's (127.0.0.1 ports, or a dns: name).
 */
#ifndef SHIMCTL_ROUTE_H
#define SHIMCTL_ROUTE_H

#include <stdbool.h>

struct shimctl_set;

typedef struct shimctl_route {
  const char *set;        /* set name: "training-liblinear" */
  const char *service;    /* the kind's full proto service: "shimkit.ml.v1.Training" */
  int policy;             /* shimctl_policy (the numbers of admin.proto's Policy) */
  const char *hash_field; /* "" unless policy hash */
  const char *hash_key;   /* "" unless policy hash */
  int weight;             /* share of the service's new calls */
  bool retry_not_found;   /* the kind is replica_local (catalog.h) */
} shimctl_route;

/* The route of set (strings borrowed from it and the catalog) with weight.
 * 0, or -1 when the set's kind is not in the catalog. */
int shimctl_route_of(const struct shimctl_set *set, int weight, shimctl_route *out);

#endif /* SHIMCTL_ROUTE_H */
