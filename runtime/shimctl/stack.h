/*
 * stack.h - the stack file (YAML) as a model, and its validation.
 *
 * A stack file names the router's address and, per service kind, its
 * implementation, replica count, ports, routing policy and extra shim flags.
 * shimctl_stack_load() parses it with libyaml's document API (every node
 * keeps its line) and checks everything that can be checked before a
 * process starts; each problem is reported as "FILE:LINE: reason". The file
 * format is described in docs/shimctl.md.
 */
#ifndef SHIMCTL_STACK_H
#define SHIMCTL_STACK_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog.h"

#define SHIMCTL_MAX_SERVICES 16   /* services in one stack */
#define SHIMCTL_MAX_CONFIG 32     /* config entries of one service (or implementation) */
#define SHIMCTL_MAX_IMPL_CONFIG 4 /* implementations with config of their own */
#define SHIMCTL_MAX_REPLICAS 32   /* replicas of one set */
#define SHIMCTL_MAX_ERRORS 32     /* problems reported for one file */

typedef enum shimctl_policy {
  SHIMCTL_POLICY_ROUND_ROBIN = 0, /* values are the router's admin.proto Policy numbers */
  SHIMCTL_POLICY_LEAST_OUTSTANDING = 1,
  SHIMCTL_POLICY_HASH = 2,
} shimctl_policy;

/* Where the replicas of the process environment listen (replica_sockets:). */
typedef enum shimctl_sockets {
  SHIMCTL_SOCKETS_TCP = 0,  /* a port on 127.0.0.1 (the default) */
  SHIMCTL_SOCKETS_UNIX = 1, /* a unix socket in the state folder (sockets.h) */
} shimctl_sockets;

/* One "key: value" of a config mapping: the shim flag --key value. */
typedef struct shimctl_kv {
  char *key;
  char *value;
} shimctl_kv;

/* Flags of one service, for one implementation or for all. */
typedef struct shimctl_config {
  char *impl; /* NULL: every implementation */
  size_t n;
  shimctl_kv kv[SHIMCTL_MAX_CONFIG];
} shimctl_config;

typedef struct shimctl_service_spec {
  const shimctl_kind *kind; /* from the catalog */
  char *implementation;     /* one of kind->impls */
  int replicas;             /* >= 1 */
  int port;                 /* first replica's port; 0 = free ports picked at start */
  shimctl_policy policy;
  char *hash_field; /* policy hash: exactly one of these */
  char *hash_key;
  int drain_grace_ms;             /* the shims' --drain-grace-ms */
  shimctl_config config;          /* flags for every implementation */
  size_t n_impl_config;           /* implementations: IMPL: {flag: value} */
  shimctl_config impl_config[SHIMCTL_MAX_IMPL_CONFIG];
} shimctl_service_spec;

typedef struct shimctl_stack {
  char *path;           /* the file as named on the command line (for messages) */
  char *dir;            /* absolute directory of the file: relative paths start here */
  char *name;           /* stack: */
  char *environment;    /* process (default), docker, kubernetes */
  char *state_dir;      /* absolute; default <dir>/.shimctl */
  char *router_listen;  /* host:port */
  char *router_metrics; /* host:port or NULL */
  shimctl_sockets replica_sockets; /* tcp (default) or unix: process environment only */
  size_t n_services;
  shimctl_service_spec services[SHIMCTL_MAX_SERVICES];
} shimctl_stack;

/* Problems found in a stack file, each "FILE:LINE: reason". */
typedef struct shimctl_errors {
  size_t n;
  char msg[SHIMCTL_MAX_ERRORS][320];
} shimctl_errors;

/*
 * Reads and validates the stack file at path. Returns a stack (free with
 * shimctl_stack_free) when there is no problem; otherwise NULL with every
 * problem found in errs (at most SHIMCTL_MAX_ERRORS).
 */
shimctl_stack *shimctl_stack_load(const char *path, shimctl_errors *errs);

/* Same, from a string; path only names it in messages and gives the base directory. */
shimctl_stack *shimctl_stack_parse(const char *path, const char *text, size_t len, shimctl_errors *errs);

/* Frees the stack. Accepts NULL. */
void shimctl_stack_free(shimctl_stack *stack);

/* The service of that kind, or NULL. */
shimctl_service_spec *shimctl_stack_service(shimctl_stack *stack, const char *kind);

/* The config of impl in svc (NULL if it has none). */
const shimctl_config *shimctl_service_impl_config(const shimctl_service_spec *svc, const char *impl);

/* "round_robin", "least_outstanding", "hash"; parse returns -1 for an unknown name. */
const char *shimctl_policy_name(shimctl_policy p);
int shimctl_policy_parse(const char *name);

/* "tcp", "unix"; parse returns -1 for anything else. */
const char *shimctl_sockets_name(shimctl_sockets s);
int shimctl_sockets_parse(const char *name);

/* Port of a "host:port" address, or -1 if it has none or it is not 1..65535. */
int shimctl_addr_port(const char *addr);

#endif /* SHIMCTL_STACK_H */
