/*
 * spec.h - a set as the operator describes it: name, services, replica
 * addresses, policy, hash field or key, weight. Plain C with no gRPC in it,
 * so that the admin API (admin.c), the state file (state.c) and the unit
 * tests share one description and one validation.
 */
#ifndef SHIMKIT_ROUTER_SPEC_H
#define SHIMKIT_ROUTER_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROUTER_MAX_BACKENDS 64  /* replicas of one set */
#define ROUTER_MAX_SERVICES 32  /* services one set lists */
#define ROUTER_MAX_SETS 64      /* sets of one router */
#define ROUTER_MAX_NAME 128     /* set names, service names, keys, fields */
#define ROUTER_MAX_ADDRESS 256  /* "host:port" */
#define ROUTER_MAX_WEIGHT 1000000u

typedef enum router_policy { ROUTER_ROUND_ROBIN = 0, ROUTER_LEAST_OUTSTANDING, ROUTER_HASH } router_policy;

/* One set, as given. Every string is owned (malloc'd) by the spec. */
typedef struct router_set_spec {
  char *name;          /* unique among the router's sets */
  char **services;     /* full service names; none = the catch-all set */
  int n_services;
  char **backends;     /* "host:port", or "dns:HOST:PORT" (a replica per address HOST resolves to:
                          dns_table.h), in the order given */
  int n_backends;
  router_policy policy;
  char *hash_field;    /* ROUTER_HASH: a field path of the request message, or NULL */
  char *hash_key;      /* ROUTER_HASH: a request metadata key, or NULL */
  uint32_t weight;     /* share of new calls among the sets of a service */
  bool retry_not_found; /* a NOT_FOUND answered before anything else is asked of the other replicas */
} router_set_spec;

/* Frees the strings of s (not s itself) and zeroes it. Accepts NULL. */
void router_spec_clear(router_set_spec *s);

/* Deep copy of src into dst (dst is overwritten); 0, or -1 when out of memory. */
int router_spec_copy(router_set_spec *dst, const router_set_spec *src);

/* Appends a copy of value to *list (n entries); 0 or -1 (out of memory). */
int router_spec_push(char ***list, int *n, const char *value);

/*
 * Checks a spec: a name of [A-Za-z0-9._-], services of [A-Za-z0-9_.], at
 * least one backend, each "host:port" with a port 1..65535 or
 * "dns:HOST:PORT" with an RFC 1123 HOST (dns_table.h), and no duplicates,
 * HASH with exactly one of hash_field and hash_key (and those only with HASH), a weight of at most ROUTER_MAX_WEIGHT. 0 when valid;
 * else -1 with a one-line reason in err ("set \"a\": backend \"x\" is not host:port").
 */
int router_spec_validate(const router_set_spec *s, char *err, size_t cap);

/* "round_robin", "least_outstanding", "hash"; and back (-1 when unknown). */
const char *router_policy_name(router_policy p);
int router_policy_parse(const char *name, router_policy *out);

/* A hash_field: field names ([A-Za-z_][A-Za-z0-9_]*) joined by '.', at most 16 of them. */
bool router_valid_field_path(const char *p);

/* A request metadata key the hash policy may use (lower case, not grpc-*). */
bool router_valid_hash_key(const char *k);

/* One of the router's own services (service, len bytes: health, reflection v1 and v1alpha,
 * RouterAdmin): answered by the router itself, never forwarded, whatever a set lists. */
bool router_own_service(const char *service, size_t len);

#endif /* SHIMKIT_ROUTER_SPEC_H */
