/*
 * dns_table.c - dns: backends (dns_table.h): checking and splitting one,
 * resolving it with getaddrinfo, keeping each name's last good address list
 * and working out which addresses a new resolution adds and removes, and
 * expanding a set's backends into its replica addresses.
 */
#define _POSIX_C_SOURCE 200809L
#include "dns_table.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

bool router_is_dns_backend(const char *backend) {
  return strncmp(backend, ROUTER_DNS_PREFIX, sizeof ROUTER_DNS_PREFIX - 1) == 0;
}

/* RFC 1123 host name: labels of [A-Za-z0-9-], 1..63, no '-' at either end. */
static bool valid_host(const char *h, size_t n) {
  if (n > 0 && h[n - 1] == '.') {
    n--; /* an absolute name */
  }
  if (n == 0 || n > ROUTER_DNS_MAX_HOST) {
    return false;
  }
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    char c = h[i];
    if (c == '.') {
      if (label == 0 || h[i - 1] == '-') {
        return false;
      }
      label = 0;
      continue;
    }
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!(alnum || (c == '-' && label > 0)) || ++label > 63) {
      return false;
    }
  }
  return label > 0 && h[n - 1] != '-';
}

int router_dns_split(const char *backend, char *host, size_t cap, unsigned *port) {
  if (!router_is_dns_backend(backend)) {
    return -1;
  }
  const char *h = backend + sizeof ROUTER_DNS_PREFIX - 1;
  const char *colon = strrchr(h, ':');
  if (colon == NULL || colon[1] == '\0' || strlen(colon + 1) > 5) {
    return -1;
  }
  unsigned p = 0;
  for (const char *c = colon + 1; *c != '\0'; c++) {
    if (*c < '0' || *c > '9') {
      return -1;
    }
    p = p * 10 + (unsigned)(*c - '0');
  }
  size_t n = (size_t)(colon - h);
  if (p < 1 || p > 65535 || !valid_host(h, n) || n >= cap) {
    return -1;
  }
  memcpy(host, h, n);
  host[n] = '\0';
  *port = p;
  return 0;
}

static void free_list(char **list, int n) {
  for (int i = 0; i < n; i++) {
    free(list[i]);
  }
  free(list);
}

static int push(char ***list, int *n, const char *s) {
  char **grown = realloc(*list, (size_t)(*n + 1) * sizeof *grown);
  if (grown == NULL) {
    return -1;
  }
  *list = grown;
  if ((grown[*n] = strdup(s)) == NULL) {
    return -1;
  }
  (*n)++;
  return 0;
}

int router_resolve_system(const char *host, unsigned port, char ***addrs, int *n, char *err, size_t cap,
                          void *ctx) {
  (void)ctx;
  *addrs = NULL;
  *n = 0;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0) {
    snprintf(err, cap, "%s", gai_strerror(rc));
    return -1;
  }
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    char ip[INET6_ADDRSTRLEN];
    char text[INET6_ADDRSTRLEN + 16];
    if (ai->ai_family == AF_INET &&
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, ip, sizeof ip) != NULL) {
      snprintf(text, sizeof text, "%s:%u", ip, port);
    } else if (ai->ai_family == AF_INET6 &&
               inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, ip, sizeof ip) !=
                   NULL) {
      snprintf(text, sizeof text, "[%s]:%u", ip, port);
    } else {
      continue;
    }
    if (push(addrs, n, text) != 0) {
      freeaddrinfo(res);
      free_list(*addrs, *n);
      *addrs = NULL;
      *n = 0;
      snprintf(err, cap, "out of memory");
      return -1;
    }
  }
  freeaddrinfo(res);
  if (*n == 0) {
    snprintf(err, cap, "no IPv4 or IPv6 address");
    return -1;
  }
  return 0;
}

router_dns_entry *router_dns_find(const router_dns_table *t, const char *name) {
  for (int i = 0; i < t->n; i++) {
    if (strcmp(t->entries[i].name, name) == 0) {
      return &t->entries[i];
    }
  }
  return NULL;
}

static void entry_clear(router_dns_entry *e) {
  free(e->name);
  free_list(e->addrs, e->n_addrs);
  memset(e, 0, sizeof *e);
}

/* Adds name unless present: 1 added, 0 present, -1 out of memory. */
static int add_name(router_dns_table *t, const char *name) {
  if (router_dns_find(t, name) != NULL) {
    return 0;
  }
  router_dns_entry *grown = realloc(t->entries, (size_t)(t->n + 1) * sizeof *grown);
  if (grown == NULL) {
    return -1;
  }
  t->entries = grown;
  router_dns_entry *e = &grown[t->n];
  memset(e, 0, sizeof *e);
  if ((e->name = strdup(name)) == NULL) {
    return -1;
  }
  t->n++;
  return 1;
}

int router_dns_add(router_dns_table *t, const router_set_spec *spec) {
  int added = 0;
  for (int j = 0; j < spec->n_backends; j++) {
    if (router_is_dns_backend(spec->backends[j])) {
      int rc = add_name(t, spec->backends[j]);
      if (rc < 0) {
        return -1;
      }
      added += rc;
    }
  }
  return added;
}

static bool named_in(const router_set_spec *specs, int n, const char *name) {
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < specs[i].n_backends; j++) {
      if (strcmp(specs[i].backends[j], name) == 0) {
        return true;
      }
    }
  }
  return false;
}

int router_dns_sync(router_dns_table *t, const router_set_spec *specs, int n, int64_t now_ms, int64_t keep_ms) {
  for (int i = 0; i < t->n;) {
    router_dns_entry *e = &t->entries[i];
    if (named_in(specs, n, e->name)) {
      e->unused_since_ms = 0;
    } else if (e->unused_since_ms == 0) {
      e->unused_since_ms = now_ms > 0 ? now_ms : 1;
    }
    if (e->unused_since_ms == 0 || now_ms - e->unused_since_ms < keep_ms) {
      i++;
      continue;
    }
    entry_clear(&t->entries[i]);
    memmove(&t->entries[i], &t->entries[i + 1], (size_t)(t->n - i - 1) * sizeof *t->entries);
    t->n--;
  }
  int added = 0;
  for (int i = 0; i < n; i++) {
    int rc = router_dns_add(t, &specs[i]);
    if (rc < 0) {
      return -1;
    }
    added += rc;
  }
  return added;
}

static bool in_list(char *const *list, int n, const char *s) {
  for (int i = 0; i < n; i++) {
    if (strcmp(list[i], s) == 0) {
      return true;
    }
  }
  return false;
}

int router_addr_diff(char *const *before, int n_before, char *const *now, int n_now, char ***added,
                     int *n_added, char ***removed, int *n_removed) {
  *added = *removed = NULL;
  *n_added = *n_removed = 0;
  int rc = 0;
  for (int i = 0; rc == 0 && i < n_now; i++) {
    if (!in_list(before, n_before, now[i]) && !in_list(*added, *n_added, now[i])) {
      rc = push(added, n_added, now[i]);
    }
  }
  for (int i = 0; rc == 0 && i < n_before; i++) {
    if (!in_list(now, n_now, before[i]) && !in_list(*removed, *n_removed, before[i])) {
      rc = push(removed, n_removed, before[i]);
    }
  }
  if (rc != 0) {
    free_list(*added, *n_added);
    free_list(*removed, *n_removed);
    *added = *removed = NULL;
    *n_added = *n_removed = 0;
  }
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts list, drops duplicates and what is past max (counted in *dropped); the new count. */
static int normalise(char **list, int n, int max, int *dropped) {
  qsort(list, (size_t)n, sizeof *list, cmp_str);
  int out = 0;
  *dropped = 0;
  for (int i = 0; i < n; i++) {
    if (out > 0 && strcmp(list[out - 1], list[i]) == 0) {
      free(list[i]);
    } else if (out >= max) {
      free(list[i]);
      (*dropped)++;
    } else {
      list[out++] = list[i];
    }
  }
  return out;
}

void router_dns_change_clear(router_dns_change *ch) {
  if (ch != NULL) {
    free_list(ch->added, ch->n_added);
    free_list(ch->removed, ch->n_removed);
    memset(ch, 0, sizeof *ch);
  }
}

bool router_dns_apply(router_dns_entry *e, int rc, char **addrs, int n, const char *err, router_dns_change *ch) {
  router_dns_change local;
  if (ch == NULL) {
    ch = &local;
  }
  memset(ch, 0, sizeof *ch);
  e->attempts++;
  if (rc != 0) {
    free_list(addrs, n);
    snprintf(e->error, sizeof e->error, "%s", err != NULL && err[0] != '\0' ? err : "unknown error");
    ch->warn = !e->failing;
    e->failing = true;
    return false;
  }
  n = normalise(addrs, n, ROUTER_MAX_BACKENDS, &ch->dropped);
  ch->recovered = e->failing;
  e->failing = false;
  e->error[0] = '\0';
  bool first = !e->resolved;
  e->resolved = true;
  if (router_addr_diff(e->addrs, e->n_addrs, addrs, n, &ch->added, &ch->n_added, &ch->removed,
                       &ch->n_removed) != 0) {
    free_list(addrs, n); /* out of memory: keep the last list, try again next time */
    return false;
  }
  bool changed = first || ch->n_added > 0 || ch->n_removed > 0;
  if (changed) {
    free_list(e->addrs, e->n_addrs);
    e->addrs = addrs;
    e->n_addrs = n;
  } else {
    free_list(addrs, n);
  }
  if (ch == &local) {
    router_dns_change_clear(&local);
  }
  return changed;
}

int router_dns_resolve(const char *name, router_resolver fn, void *ctx, char ***addrs, int *n, char *err,
                       size_t cap) {
  char host[ROUTER_DNS_MAX_HOST + 2];
  unsigned port = 0;
  *addrs = NULL;
  *n = 0;
  if (router_dns_split(name, host, sizeof host, &port) != 0) {
    snprintf(err, cap, "not dns:HOST:PORT");
    return -1;
  }
  if (fn(host, port, addrs, n, err, cap, ctx) != 0) {
    free_list(*addrs, *n);
    *addrs = NULL;
    *n = 0;
    if (err[0] == '\0') {
      snprintf(err, cap, "unknown error");
    }
    return -1;
  }
  return 0;
}

bool router_dns_refresh(router_dns_entry *e, router_resolver fn, void *ctx, router_dns_change *ch) {
  char **addrs = NULL;
  int n = 0;
  char err[ROUTER_DNS_MAX_ERROR] = "";
  int rc = router_dns_resolve(e->name, fn, ctx, &addrs, &n, err, sizeof err);
  return router_dns_apply(e, rc, addrs, n, err, ch);
}

int router_dns_expand(const router_set_spec *spec, const router_dns_table *t, const char ***addrs, int **origin,
                      int *n, int *dropped) {
  *addrs = calloc(ROUTER_MAX_BACKENDS, sizeof **addrs);
  *origin = calloc(ROUTER_MAX_BACKENDS, sizeof **origin);
  *n = 0;
  *dropped = 0;
  if (*addrs == NULL || *origin == NULL) {
    free(*addrs);
    free(*origin);
    *addrs = NULL;
    *origin = NULL;
    return -1;
  }
  for (int j = 0; j < spec->n_backends; j++) {
    const char *b = spec->backends[j];
    const router_dns_entry *e = router_is_dns_backend(b) && t != NULL ? router_dns_find(t, b) : NULL;
    int count = router_is_dns_backend(b) ? (e != NULL ? e->n_addrs : 0) : 1;
    for (int k = 0; k < count; k++) {
      const char *a = e != NULL ? e->addrs[k] : b;
      if (in_list((char *const *)*addrs, *n, a)) {
        continue;
      }
      if (*n >= ROUTER_MAX_BACKENDS) {
        (*dropped)++;
        continue;
      }
      (*addrs)[*n] = a;
      (*origin)[*n] = j;
      (*n)++;
    }
  }
  return 0;
}

void router_dns_table_clear(router_dns_table *t) {
  for (int i = 0; i < t->n; i++) {
    entry_clear(&t->entries[i]);
  }
  free(t->entries);
  memset(t, 0, sizeof *t);
}
