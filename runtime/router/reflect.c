/*
 * reflect.c - the replicas' services in the router's reflection (reflect.h).
 *
 * list_services: the names a healthy replica of each set lists (their own
 * reflection and health services left out: the router lists its own),
 * merged, cached until the sets or their healthy replicas change (a
 * signature of set names and replica addresses) or
 * ROUTER_REFLECT_LIST_TTL_MS passes. A file query the router cannot answer
 * goes to a healthy replica of the set that lists the symbol's service
 * first, then of each other set in turn until one knows it; within a set,
 * a replica that could not be asked (gone, no reflection) is followed by
 * another, up to ROUTER_MAX_ATTEMPTS, and one that answers "not found" ends
 * that set's turn (the replicas of a set serve the same services). Answers from replicas are untrusted: names
 * are checked before they are listed, files are passed on as bytes (the client decodes them).
 */
#define _POSIX_C_SOURCE 200809L
#include "reflect.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shimkit/reflection.h>

#include "refl_client.h"

typedef struct list_cache {
  pthread_mutex_t lock;
  uint64_t signature; /* of the healthy replicas when names were asked */
  int64_t asked_ms;   /* when (CLOCK_MONOTONIC); 0 = never */
  char **names;
  size_t n;
} list_cache;

static list_cache g_list = {PTHREAD_MUTEX_INITIALIZER, 0, 0, NULL, 0};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Which sets there are and which of their replicas are healthy now, as one number. */
static uint64_t healthy_signature(const router_config *cfg) {
  uint64_t sig = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; cfg != NULL && i < cfg->n_sets; i++) {
    const router_set *s = &cfg->sets[i];
    sig = router_hash_bytes(&sig, sizeof sig) ^ router_hash_bytes(s->spec.name, strlen(s->spec.name));
    for (int j = 0; j < s->n_backends; j++) {
      if (atomic_load(&s->backends[j]->healthy)) {
        sig = router_hash_bytes(&sig, sizeof sig) ^ s->backends[j]->address_hash;
      }
    }
  }
  return sig;
}

/* A service name worth listing: printable, no spaces, not the replica's own plumbing. */
static bool listable(const char *name) {
  if (name == NULL || name[0] == '\0' || strlen(name) > 512) {
    return false;
  }
  for (const char *p = name; *p != '\0'; p++) {
    if (*p <= ' ' || *p == 0x7f) {
      return false;
    }
  }
  return strncmp(name, "grpc.reflection.", 16) != 0 && strcmp(name, "grpc.health.v1.Health") != 0;
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(names[i]);
  }
  free(names);
}

/* Asks one replica for its services: 0 with *names (n), -1 when it could not be asked. */
static int ask_list(router_backend *b, char ***names, size_t *n) {
  char err[256];
  router_refl_client *c = router_refl_open(b->channel, ROUTER_REFLECT_MS);
  Grpc__Reflection__V1__ServerReflectionRequest req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  req.host = "";
  req.message_request_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
  req.list_services = "";
  Grpc__Reflection__V1__ServerReflectionResponse *resp =
      c != NULL ? router_refl_ask(c, &req, err, sizeof err) : NULL;
  router_refl_close(c);
  if (resp == NULL) {
    shimkit_log(SHIMKIT_LOG_WARN, "router", "cannot list the services of %s: %s", b->address,
                c != NULL ? err : "out of memory");
    return -1;
  }
  int rc = -1;
  const Grpc__Reflection__V1__ListServiceResponse *list = resp->list_services_response;
  if (resp->message_response_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE &&
      list != NULL) {
    size_t max =
        list->n_service < ROUTER_REFLECT_MAX_SERVICES ? list->n_service : ROUTER_REFLECT_MAX_SERVICES;
    *names = calloc(max > 0 ? max : 1, sizeof(char *));
    *n = 0;
    rc = *names != NULL ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < max; i++) {
      const char *name = list->service[i] != NULL ? list->service[i]->name : NULL;
      if (listable(name) && ((*names)[*n] = strdup(name)) != NULL) {
        (*n)++;
      }
    }
  }
  grpc__reflection__v1__server_reflection_response__free_unpacked(resp, NULL);
  return rc;
}

/* Adds names (n) to the list *all (*n_all) unless there already; takes ownership of names. */
static void merge_names(char ***all, size_t *n_all, char **names, size_t n) {
  char **grown = realloc(*all, (*n_all + n + 1) * sizeof(char *));
  if (grown == NULL) {
    free_names(names, n);
    return;
  }
  *all = grown;
  for (size_t i = 0; i < n; i++) {
    bool dup = false;
    for (size_t j = 0; j < *n_all && !dup; j++) {
      dup = strcmp((*all)[j], names[i]) == 0;
    }
    if (dup) {
      free(names[i]);
    } else {
      (*all)[(*n_all)++] = names[i];
    }
  }
  free(names);
}

static void list_services(void *user_data, shimkit_reflection_answer *answer) {
  router *r = user_data;
  list_cache *lc = &g_list;
  router_config *cfg = router_config_get(r);
  pthread_mutex_lock(&lc->lock); /* held while asking: concurrent lists wait for one answer */
  uint64_t sig = healthy_signature(cfg);
  if (lc->asked_ms == 0 || sig != lc->signature || now_ms() - lc->asked_ms > ROUTER_REFLECT_LIST_TTL_MS) {
    char **all = NULL;
    size_t n_all = 0;
    bool complete = true; /* every set with a healthy replica answered */
    for (int i = 0; cfg != NULL && i < cfg->n_sets; i++) {
      router_backend *tried[ROUTER_MAX_ATTEMPTS];
      int n_tried = 0;
      router_backend *b;
      bool answered = false;
      while (n_tried < ROUTER_MAX_ATTEMPTS && (b = router_borrow(&cfg->sets[i], tried, n_tried)) != NULL) {
        tried[n_tried++] = b;
        char **names = NULL;
        size_t n = 0;
        int rc = ask_list(b, &names, &n);
        router_give_back(b);
        if (rc == 0) {
          merge_names(&all, &n_all, names, n);
          answered = true;
          break;
        }
      }
      complete = complete && (answered || n_tried == 0);
    }
    free_names(lc->names, lc->n);
    lc->names = all;
    lc->n = n_all;
    lc->signature = sig;
    lc->asked_ms = complete ? now_ms() : 0; /* a set that could not be asked: ask again next time */
  }
  for (size_t i = 0; i < lc->n; i++) {
    shimkit_reflection_answer_add_service(answer, lc->names[i]);
  }
  pthread_mutex_unlock(&lc->lock);
  router_config_unref(cfg);
}

/* Asks one replica the query: 1 answered with files (added), 0 it does not know, -1 it could not be asked. */
static int ask_files(router_backend *b, shimkit_reflection_query query, const char *name, int32_t number,
                     shimkit_reflection_answer *answer) {
  char err[256];
  Grpc__Reflection__V1__ServerReflectionRequest req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  Grpc__Reflection__V1__ExtensionRequest ext = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
  req.host = "";
  switch (query) {
  case SHIMKIT_REFLECTION_FILE_BY_FILENAME:
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    req.file_by_filename = (char *)name;
    break;
  case SHIMKIT_REFLECTION_FILE_CONTAINING_EXTENSION:
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION;
    ext.containing_type = (char *)name;
    ext.extension_number = number;
    req.file_containing_extension = &ext;
    break;
  default:
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    req.file_containing_symbol = (char *)name;
    break;
  }
  router_refl_client *c = router_refl_open(b->channel, ROUTER_REFLECT_MS);
  Grpc__Reflection__V1__ServerReflectionResponse *resp =
      c != NULL ? router_refl_ask(c, &req, err, sizeof err) : NULL;
  router_refl_close(c);
  if (resp == NULL) {
    shimkit_log(SHIMKIT_LOG_WARN, "router", "cannot ask %s's reflection: %s", b->address,
                c != NULL ? err : "out of memory");
    return -1;
  }
  int rc = 0;
  const Grpc__Reflection__V1__FileDescriptorResponse *fds = resp->file_descriptor_response;
  if (resp->message_response_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE &&
      fds != NULL && fds->n_file_descriptor_proto > 0) {
    rc = 1;
    for (size_t i = 0; i < fds->n_file_descriptor_proto; i++) {
      shimkit_reflection_answer_add_file(answer, fds->file_descriptor_proto[i].data,
                                         fds->file_descriptor_proto[i].len);
    }
  }
  grpc__reflection__v1__server_reflection_response__free_unpacked(resp, NULL);
  return rc;
}

/* Whether set s lists the service symbol belongs to ("pkg.Svc" or "pkg.Svc.Method"). */
static bool serves_symbol(const router_set *s, const char *symbol) {
  for (int i = 0; i < s->spec.n_services; i++) {
    size_t n = strlen(s->spec.services[i]);
    if (strncmp(symbol, s->spec.services[i], n) == 0 && (symbol[n] == '\0' || symbol[n] == '.')) {
      return true;
    }
  }
  return false;
}

/* Asks set s: 1 answered, 0 it does not know (or has no replica to ask). */
static int ask_set(router_set *s, shimkit_reflection_query query, const char *name, int32_t number,
                   shimkit_reflection_answer *answer) {
  router_backend *tried[ROUTER_MAX_ATTEMPTS];
  int n_tried = 0;
  router_backend *b;
  while (n_tried < ROUTER_MAX_ATTEMPTS && (b = router_borrow(s, tried, n_tried)) != NULL) {
    tried[n_tried++] = b;
    int rc = ask_files(b, query, name, number, answer);
    router_give_back(b);
    if (rc >= 0) {
      return rc;
    }
  }
  return 0;
}

static void find_files(void *user_data, shimkit_reflection_query query, const char *name, int32_t number,
                       shimkit_reflection_answer *answer) {
  router *r = user_data;
  if (name == NULL || name[0] == '\0') {
    return;
  }
  router_config *cfg = router_config_get(r);
  bool symbol = query == SHIMKIT_REFLECTION_FILE_CONTAINING_SYMBOL;
  /* First the sets that list the symbol's service, then every other set in turn. */
  for (int pass = symbol ? 0 : 1; cfg != NULL && pass < 2; pass++) {
    for (int i = 0; i < cfg->n_sets; i++) {
      bool listed = symbol && serves_symbol(&cfg->sets[i], name);
      if ((pass == 0) != listed) {
        continue;
      }
      if (ask_set(&cfg->sets[i], query, name, number, answer) == 1) {
        router_config_unref(cfg);
        return;
      }
    }
  }
  router_config_unref(cfg);
}

void router_reflection_free(void) {
  pthread_mutex_lock(&g_list.lock);
  free_names(g_list.names, g_list.n);
  g_list.names = NULL;
  g_list.n = 0;
  g_list.asked_ms = 0;
  pthread_mutex_unlock(&g_list.lock);
}

shimkit_code router_reflection_install(shimkit_server *srv, router *r) {
  shimkit_reflection_fallback fb = {list_services, find_files, r};
  return shimkit_server_set_reflection_fallback(srv, &fb);
}
