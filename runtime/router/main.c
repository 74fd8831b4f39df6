/*
 * main.c - shimkit_router: one address for clients, calls forwarded to a
 * set of replicas (router.h).
 *
 *   shimkit_router --listen 127.0.0.1:8080 --backend 127.0.0.1:50051
 *                  --backend 127.0.0.1:50052 [--policy round_robin|least_outstanding]
 *                  [--policy hash --hash-key METADATA_KEY | --hash-field FIELD.PATH]
 *
 * --backend (repeatable), --policy, --hash-key, --hash-field and --health-retry-ms are taken here;
 * every other option (listen, TLS, workers, drain, metrics, logging) is the
 * shim command line shared with the shim programs (services/common/shim_cli).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field_route.h"
#include "reflect.h"
#include "router.h"
#include "shim_cli.h"

static router g_router;

static shimkit_code setup(shimkit_server *srv, void *ctx) {
  router *r = ctx;
  shimkit_code rc = shimkit_server_set_raw_handler(srv, router_forward, r);
  if (rc != SHIMKIT_OK) {
    fprintf(stderr, "shimkit_router: cannot install the forwarding handler: %s\n", shimkit_code_name(rc));
    return rc;
  }
  rc = router_reflection_install(srv, r);
  if (rc != SHIMKIT_OK) {
    fprintf(stderr, "shimkit_router: cannot install the replicas' reflection: %s\n", shimkit_code_name(rc));
    return rc;
  }
  router_health_start(r);
  return SHIMKIT_OK;
}

static void teardown(void *ctx) {
  router *r = ctx;
  router_stop(r);
  router_field_cache_unref(r->field_cache);
  r->field_cache = NULL;
  router_reflection_free();
}

static bool valid_hash_key(const char *k) {
  if (*k == '\0' || strncmp(k, "grpc-", 5) == 0) {
    return false;
  }
  for (; *k != '\0'; k++) {
    if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '-' || *k == '_' || *k == '.')) {
      return false;
    }
  }
  return true;
}

/* Field names ([A-Za-z_][A-Za-z0-9_]*) joined by '.', at most ROUTER_FIELD_MAX_DEPTH of them. */
static bool valid_field_path(const char *p) {
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
  return !start && steps <= ROUTER_FIELD_MAX_DEPTH;
}

/* Takes the router's own options out of argv (in place); -1 on a bad one. */
static int take_options(router *r, int *argc, char **argv) {
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < *argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--backend") == 0 || strcmp(a, "--policy") == 0 || strcmp(a, "--health-retry-ms") == 0 ||
        strcmp(a, "--hash-key") == 0 || strcmp(a, "--hash-field") == 0) {
      if (v == NULL) {
        fprintf(stderr, "shimkit_router: %s needs a value\n", a);
        return -1;
      }
      i++;
      if (strcmp(a, "--backend") == 0 && router_backend_add(r, v) != 0) {
        fprintf(stderr, "shimkit_router: cannot add backend %s (at most %d)\n", v, ROUTER_MAX_BACKENDS);
        return -1;
      } else if (strcmp(a, "--policy") == 0) {
        if (strcmp(v, "round_robin") == 0) {
          r->policy = ROUTER_ROUND_ROBIN;
        } else if (strcmp(v, "least_outstanding") == 0) {
          r->policy = ROUTER_LEAST_OUTSTANDING;
        } else if (strcmp(v, "hash") == 0) {
          r->policy = ROUTER_HASH;
        } else {
          fprintf(stderr, "shimkit_router: --policy is round_robin, least_outstanding or hash, not %s\n", v);
          return -1;
        }
      } else if (strcmp(a, "--hash-key") == 0) {
        if (!valid_hash_key(v)) {
          fprintf(stderr, "shimkit_router: --hash-key must be a lower-case metadata key (a-z 0-9 - _ .), not %s\n", v);
          return -1;
        }
        r->hash_key = v;
      } else if (strcmp(a, "--hash-field") == 0) {
        if (!valid_field_path(v)) {
          fprintf(stderr, "shimkit_router: --hash-field must be field names joined by '.' (key.entity_id), not %s\n", v);
          return -1;
        }
        r->hash_field = v;
      } else if (strcmp(a, "--health-retry-ms") == 0) {
        r->health_retry_ms = atoi(v);
        if (r->health_retry_ms < 10) {
          fprintf(stderr, "shimkit_router: --health-retry-ms must be at least 10\n");
          return -1;
        }
      }
      continue;
    }
    argv[out++] = argv[i];
  }
  *argc = out;
  argv[out] = NULL;
  return 0;
}

int main(int argc, char **argv) {
  router *r = &g_router;
  r->health_retry_ms = 500;
  atomic_init(&r->next, 0);
  atomic_init(&r->stopping, false);
  bool help = false;
  for (int i = 1; i < argc; i++) {
    help = help || strcmp(argv[i], "--help") == 0;
  }
  if (take_options(r, &argc, argv) != 0) {
    router_stop(r);
    return 2;
  }
  if (!help && r->hash_key != NULL && r->hash_field != NULL) {
    fprintf(stderr, "shimkit_router: --hash-key and --hash-field exclude each other\n");
    router_stop(r);
    return 2;
  }
  if (!help && (r->policy == ROUTER_HASH) != (r->hash_key != NULL || r->hash_field != NULL)) {
    fprintf(stderr, "shimkit_router: --policy hash goes with --hash-key KEY or --hash-field PATH\n");
    router_stop(r);
    return 2;
  }
  if (!help && r->hash_field != NULL && (r->field_cache = router_field_cache_new(r->hash_field)) == NULL) {
    fprintf(stderr, "shimkit_router: out of memory\n");
    router_stop(r);
    return 2;
  }
  if (r->n_backends == 0 && !help) {
    fprintf(stderr, "shimkit_router: give at least one --backend ADDR\n");
    return 2;
  }
  static const shim_cli_program program = {
      .name = "shimkit_router",
      .summary = "Forwards every gRPC call, byte for byte, to a healthy replica of a set.\n"
                 "  --backend ADDR          a replica (repeat for each)\n"
                 "  --policy P              round_robin (default), least_outstanding or hash\n"
                 "  --hash-key KEY          with --policy hash: the request metadata key hashed on\n"
                 "  --hash-field PATH       with --policy hash: the request field hashed on (model_name,\n"
                 "                          key.entity_id), learned from the replicas' reflection\n"
                 "  --health-retry-ms MS    re-watch a gone replica after MS (default 500)",
      .options = NULL,
      .setup = setup,
      .teardown = teardown,
      .ctx = &g_router,
  };
  return shim_cli_main(&program, argc, argv);
}
