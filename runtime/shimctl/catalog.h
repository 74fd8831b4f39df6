/*
 * catalog.h - the service kinds shimctl knows: which shim program serves
 * a kind, the proto service the router routes to it, its implementations
 * (native back ends) and whether its state has to move during a swap.
 * Adding a service to shimctl = one row in catalog.c, an image profile per
 * implementation in image.c and, if stateful, a row in copy.c (README.md,
 * "Adding a service").
 */
#ifndef SHIMCTL_CATALOG_H
#define SHIMCTL_CATALOG_H

#include <stdbool.h>

typedef struct shimctl_kind {
  const char *name;                 /* stack file key: "feature_store" */
  const char *program;              /* shim program: "feature_store_shim" */
  const char *service;              /* full proto service name the router routes */
  const char *const *impls;         /* implementations, NULL-terminated; the first is the default */
  const char *impl_flag;            /* "backend": --backend IMPL; NULL when the kind has one built-in implementation */
  bool stateful;                    /* swap copies its state with Export/Import */
  /* Flags that name another service of the stack (e.g. "model-repository"):
   * when the stack does not set them, they point at the router. NULL-terminated. */
  const char *const *router_flags;
  /* Its resources live on the replica that made them (training's jobs): the
   * router asks a set's other replicas when one answers NOT_FOUND
   * (retry_not_found in the router's sets). */
  bool replica_local;
} shimctl_kind;

/* The kind of that name, or NULL. */
const shimctl_kind *shimctl_kind_find(const char *name);

/* Every kind, ended by an entry with name NULL. */
extern const shimctl_kind shimctl_kinds[];

/* True when impl is one of kind's implementations. */
bool shimctl_kind_has_impl(const shimctl_kind *kind, const char *impl);

/* Writes "a, b, c" (the kind's implementations) to buf. */
void shimctl_kind_impl_list(const shimctl_kind *kind, char *buf, int len);

#endif /* SHIMCTL_CATALOG_H */
