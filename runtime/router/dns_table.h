/*
 * dns_table.h - "dns:HOST:PORT" backends: what a valid one is, resolving
 * one (getaddrinfo, or a resolver injected by the unit tests), and the table
 * of every name's last good address list with the change a new resolution
 * makes to it. Plain C with no gRPC and no threads, so the unit tests use it
 * alone; discover.c runs it on the router's resolver thread and sets.c turns
 * a set's backends into its replicas with router_dns_expand().
 *
 * A dns: backend stands for one replica per address its HOST resolves to
 * (IPv4 and IPv6), each named "IP:PORT" ("[IP]:PORT" for IPv6). A failed
 * resolution keeps the last good list; a name that never resolved has none.
 */
#ifndef SHIMKIT_ROUTER_DNS_TABLE_H
#define SHIMKIT_ROUTER_DNS_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

#define ROUTER_DNS_PREFIX "dns:"
#define ROUTER_DNS_MAX_HOST 253   /* RFC 1123, without a final '.' */
#define ROUTER_DNS_MAX_ERROR 200  /* a resolution's failure reason */

/* The backend is written "dns:..." (valid or not). */
bool router_is_dns_backend(const char *backend);

/*
 * Splits a "dns:HOST:PORT" backend: HOST of RFC 1123 labels (letters,
 * digits, '-' not at either end of a label, 1-63 each, at most 253 in all,
 * one final '.' allowed) and a decimal PORT 1..65535. 0 with host (cap
 * bytes) and *port; -1 when the backend is not that.
 */
int router_dns_split(const char *backend, char *host, size_t cap, unsigned *port);

/*
 * A resolver: the addresses host resolves to, formatted "IP:PORT" or
 * "[IP]:PORT", as *addrs (malloc'd array of malloc'd strings) and *n. 0, or
 * -1 with a reason in err. Any order, duplicates allowed.
 */
typedef int (*router_resolver)(const char *host, unsigned port, char ***addrs, int *n, char *err, size_t cap,
                               void *ctx);

/* The real resolver: getaddrinfo (AF_UNSPEC, SOCK_STREAM). ctx unused. */
int router_resolve_system(const char *host, unsigned port, char ***addrs, int *n, char *err, size_t cap,
                          void *ctx);

/* One dns: name and what it resolved to last. */
typedef struct router_dns_entry {
  char *name;          /* "dns:HOST:PORT" as given */
  char **addrs;        /* the last good resolution: sorted, no duplicates, at most ROUTER_MAX_BACKENDS */
  int n_addrs;
  bool resolved;       /* it resolved at least once */
  bool failing;        /* the last resolution failed (the warning of this streak was given) */
  int attempts;        /* resolutions tried */
  int64_t unused_since_ms; /* when a sync first found no set naming it (0: in use or just added) */
  char error[ROUTER_DNS_MAX_ERROR]; /* the last failure's reason ("" none) */
} router_dns_entry;

/* Every dns: name of the router's sets. */
typedef struct router_dns_table {
  router_dns_entry *entries;
  int n;
} router_dns_table;

/* What one resolution changed (router_dns_apply). Free with router_dns_change_clear. */
typedef struct router_dns_change {
  char **added;        /* addresses that appeared */
  int n_added;
  char **removed;      /* addresses that disappeared */
  int n_removed;
  bool warn;           /* a failure streak begins: warn once, with the entry's error */
  bool recovered;      /* a failure streak ended */
  int dropped;         /* addresses past ROUTER_MAX_BACKENDS left out */
} router_dns_change;

/*
 * Brings the table in line with the dns: names of specs (n sets) at time
 * now_ms: adds the missing ones (not resolved yet); drops those no set has
 * named for keep_ms (a name added for a change not swapped in yet is kept
 * meanwhile). The number of names added, or -1 when out of memory (the
 * table is then as before or with some names added).
 */
int router_dns_sync(router_dns_table *t, const router_set_spec *specs, int n, int64_t now_ms, int64_t keep_ms);

/* Adds the dns: names of one spec that the table lacks (keeps the others). Names added, or -1. */
int router_dns_add(router_dns_table *t, const router_set_spec *spec);

/* The entry of name, or NULL. */
router_dns_entry *router_dns_find(const router_dns_table *t, const char *name);

/*
 * Records one resolution of e: rc 0 with addrs (n, taken over and freed
 * here: the caller no longer owns them), or rc -1 with err. On success the
 * list is sorted, deduplicated, cut to ROUTER_MAX_BACKENDS and compared with
 * the last one (ch->added, ch->removed); on failure the last list stays.
 * true when the addresses changed (a new snapshot of the sets is needed).
 * ch may be NULL; else it is overwritten.
 */
bool router_dns_apply(router_dns_entry *e, int rc, char **addrs, int n, const char *err, router_dns_change *ch);

/* Resolves name ("dns:HOST:PORT") with fn: as the resolver does (an invalid name is an error). */
int router_dns_resolve(const char *name, router_resolver fn, void *ctx, char ***addrs, int *n, char *err,
                       size_t cap);

/* Resolves e's name with fn and records it (router_dns_apply). */
bool router_dns_refresh(router_dns_entry *e, router_resolver fn, void *ctx, router_dns_change *ch);

/*
 * The differences between two address lists, as copies: *added (in now, not
 * in before) and *removed (in before, not in now). 0, or -1 when out of memory.
 */
int router_addr_diff(char *const *before, int n_before, char *const *now, int n_now, char ***added,
                     int *n_added, char ***removed, int *n_removed);

/*
 * The replicas of a set: its fixed backends, and in place of each dns:
 * backend the addresses of its entry in t (none when t lacks it or it never
 * resolved), in spec order, each address once, at most ROUTER_MAX_BACKENDS.
 * *addrs (n entries) points into spec and t (copy what must outlive them);
 * (*origin)[i] is the index in spec->backends each comes from; *dropped
 * counts the addresses left out past the limit. 0, or -1 when out of memory.
 */
int router_dns_expand(const router_set_spec *spec, const router_dns_table *t, const char ***addrs, int **origin,
                      int *n, int *dropped);

void router_dns_change_clear(router_dns_change *ch);
void router_dns_table_clear(router_dns_table *t);

#endif /* SHIMKIT_ROUTER_DNS_TABLE_H */
