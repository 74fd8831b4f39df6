/*
 * main.c - shimkit_router: one address for clients, calls forwarded to sets
 * of replicas (router.h), managed at run time through RouterAdmin.
 *
 *   shimkit_router --listen 127.0.0.1:8080 [--backend 127.0.0.1:50051 ...]
 *                  [--policy round_robin|least_outstanding|hash [--hash-key KEY | --hash-field PATH]]
 *                  [--state FILE | --sets-file FILE] [--health-retry-ms MS] [--resolve-interval-ms MS]
 *
 * --backend flags make the catch-all set "default" (with --policy and
 * --hash-key or --hash-field); a backend may be dns:HOST:PORT (a replica per
 * address HOST resolves to, every --resolve-interval-ms: discover.c).
 * --state FILE keeps the sets and weights across restarts; --sets-file FILE
 * reads them from FILE (same format) and never writes it.
 * Every other option (listen, TLS, workers, drain, metrics, logging) is the
 * shim command line shared with the shim programs (services/common/shim_cli).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reflect.h"
#include "relay.h"
#include "router.h"
#include "shim_cli.h"
#include "state.h"

static router g_router;
static router_set_spec g_default; /* the set --backend makes */
static relay *g_relay;            /* the front on --listen (relay.h); NULL with --no-relay, TLS or unix: */
static bool g_no_relay;
static size_t g_retry_buffer = RELAY_RETRY_BUFFER_DEFAULT; /* --retry-buffer-mib */

static const char *front_bind(const char *listen, int drain_grace_ms, int *port, void *ctx) {
  if (!relay_can_front(listen)) {
    shimkit_log(SHIMKIT_LOG_INFO, "shimkit_router",
                "no relay on %s (not a numeric IP:PORT): gRPC core serves it and forwards every call", listen);
    return listen;
  }
  char err[200];
  g_relay = relay_bind(ctx, listen, drain_grace_ms, port, err, sizeof err);
  if (g_relay == NULL) {
    fprintf(stderr, "shimkit_router: cannot listen on %s: %s (is the port in use? try --listen 127.0.0.1:0)\n",
            listen, err);
    return NULL;
  }
  relay_set_retry_buffer(g_relay, g_retry_buffer);
  return relay_server_address(g_relay);
}

static shimkit_code front_start(void *ctx) {
  (void)ctx;
  return relay_start(g_relay) == 0 ? SHIMKIT_OK : SHIMKIT_RESOURCE_EXHAUSTED;
}

static shimkit_code setup(shimkit_server *srv, void *ctx) {
  router *r = ctx;
  shimkit_code rc = router_forward_install(r, srv);
  if (rc == SHIMKIT_OK && g_relay != NULL) {
    /* Its only listener is the relay's private socket: the client is the one the relay names. */
    rc = shimkit_server_set_front_peer_key(srv, RELAY_PEER_HEADER);
  }
  if (rc == SHIMKIT_OK) {
    rc = router_admin_register(r, srv);
  }
  if (rc == SHIMKIT_OK) {
    rc = router_reflection_install(srv, r); /* the replicas' services in the router's reflection */
  }
  if (rc == SHIMKIT_OK && router_hold_start(r, srv) != 0) {
    rc = SHIMKIT_RESOURCE_EXHAUSTED;
  }
  if (rc != SHIMKIT_OK) {
    fprintf(stderr, "shimkit_router: cannot install the forwarding and admin handlers: %s\n",
            shimkit_code_name(rc));
    return rc;
  }
  router_service_health_start(r, srv); /* the sets about to load publish their services' health */
  if (router_dns_start(r) != 0 || router_load_state(r, &g_default, g_default.n_backends > 0 ? 1 : 0) != 0) {
    fprintf(stderr, "shimkit_router: cannot set up the sets (see the log above)\n");
    return SHIMKIT_FAILED_PRECONDITION;
  }
  return SHIMKIT_OK;
}

static shimkit_code setup_metrics(shimkit_metrics *metrics, void *ctx) {
  shimkit_code rc = router_metrics_register(ctx, metrics);
  if (rc == SHIMKIT_OK && g_relay != NULL) { /* bound before the metrics are set up, freed after */
    rc = shimkit_metrics_add_collector(metrics, relay_metrics, g_relay);
  }
  return rc;
}

/* The server drained (no call is held any more): the hold timer and the
 * services' health stop before it is freed. */
static void drained(void *ctx) {
  relay_drain(g_relay); /* its own calls get the rest of the grace */
  router_hold_stop(ctx);
  router_service_health_stop(ctx); /* health watches still run: none may publish into a freed server */
}

static void teardown(void *ctx) {
  relay_free(g_relay);
  g_relay = NULL;
  router_stop(ctx);
  router_reflection_free();
}

/* v, the value of flag, as a whole number in lo..hi into *out; false (said on stderr) when it is not one. */
static bool whole_number(const char *flag, const char *v, long lo, long hi, long *out) {
  char *end = NULL;
  *out = strtol(v, &end, 10);
  if (end == v || *end != '\0' || *out < lo || *out > hi) {
    fprintf(stderr, "shimkit_router: %s must be %ld..%ld, not %s\n", flag, lo, hi, v);
    return false;
  }
  return true;
}

/* Takes the router's own options out of argv (in place); -1 on a bad one. */
static int take_options(router *r, router_set_spec *def, int *argc, char **argv) {
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < *argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--backend") == 0 || strcmp(a, "--policy") == 0 || strcmp(a, "--health-retry-ms") == 0 ||
        strcmp(a, "--hash-key") == 0 || strcmp(a, "--hash-field") == 0 || strcmp(a, "--state") == 0 ||
        strcmp(a, "--sets-file") == 0 || strcmp(a, "--resolve-interval-ms") == 0 ||
        strcmp(a, "--retry-buffer-mib") == 0) {
      if (v == NULL) {
        fprintf(stderr, "shimkit_router: %s needs a value\n", a);
        return -1;
      }
      i++;
      if (strcmp(a, "--backend") == 0) {
        if (def->n_backends >= ROUTER_MAX_BACKENDS || router_spec_push(&def->backends, &def->n_backends, v) != 0) {
          fprintf(stderr, "shimkit_router: cannot add backend %s (at most %d)\n", v, ROUTER_MAX_BACKENDS);
          return -1;
        }
      } else if (strcmp(a, "--policy") == 0) {
        if (router_policy_parse(v, &def->policy) != 0) {
          fprintf(stderr, "shimkit_router: --policy is round_robin, least_outstanding or hash, not %s\n", v);
          return -1;
        }
      } else if (strcmp(a, "--hash-key") == 0) {
        if (!router_valid_hash_key(v)) {
          fprintf(stderr, "shimkit_router: --hash-key must be a lower-case metadata key (a-z 0-9 - _ .), not %s\n", v);
          return -1;
        }
        free(def->hash_key);
        def->hash_key = strdup(v);
      } else if (strcmp(a, "--hash-field") == 0) {
        if (!router_valid_field_path(v)) {
          fprintf(stderr, "shimkit_router: --hash-field must be field names joined by '.' (key.entity_id), not %s\n", v);
          return -1;
        }
        free(def->hash_field);
        def->hash_field = strdup(v);
      } else if (strcmp(a, "--state") == 0) {
        r->state_path = v;
      } else if (strcmp(a, "--sets-file") == 0) {
        r->sets_path = v;
      } else if (strcmp(a, "--resolve-interval-ms") == 0) {
        long ms;
        if (!whole_number(a, v, 10, 3600000, &ms)) {
          return -1;
        }
        r->resolve_interval_ms = (int)ms;
      } else if (strcmp(a, "--retry-buffer-mib") == 0) {
        long mib;
        if (!whole_number(a, v, 0, 65536, &mib)) {
          return -1;
        }
        g_retry_buffer = (size_t)mib << 20;
      } else if (strcmp(a, "--health-retry-ms") == 0) {
        r->health_retry_ms = atoi(v);
        if (r->health_retry_ms < 10) {
          fprintf(stderr, "shimkit_router: --health-retry-ms must be at least 10\n");
          return -1;
        }
      }
      continue;
    }
    if (strcmp(a, "--no-unary-plan") == 0) {
      r->unary_plan = false;
      continue;
    }
    if (strcmp(a, "--no-relay") == 0) {
      g_no_relay = true;
      continue;
    }
    argv[out++] = argv[i];
  }
  *argc = out;
  argv[out] = NULL;
  return 0;
}

/* Checks the options before anything starts; 0, or 2 (the exit status). */
static int check_options(router *r, router_set_spec *def) {
  if (def->hash_key != NULL && def->hash_field != NULL) {
    fprintf(stderr, "shimkit_router: --hash-key and --hash-field exclude each other\n");
    return 2;
  }
  if ((def->policy == ROUTER_HASH) != (def->hash_key != NULL || def->hash_field != NULL)) {
    fprintf(stderr, "shimkit_router: --policy hash goes with --hash-key KEY or --hash-field PATH\n");
    return 2;
  }
  if (r->sets_path != NULL && r->state_path != NULL) {
    fprintf(stderr, "shimkit_router: --sets-file and --state exclude each other: --sets-file is read and never "
                    "written (a declarative deployment), --state is written after every change\n");
    return 2;
  }
  if (r->sets_path != NULL && def->n_backends > 0) {
    fprintf(stderr, "shimkit_router: --sets-file and --backend exclude each other: put the set in the file\n");
    return 2;
  }
  if (def->n_backends == 0 && r->state_path == NULL && r->sets_path == NULL) {
    fprintf(stderr, "shimkit_router: give at least one --backend ADDR, or --state FILE or --sets-file FILE "
                    "(sets then come from the file and RouterAdmin/ApplySet)\n");
    return 2;
  }
  if (def->n_backends == 0 && (def->policy != ROUTER_ROUND_ROBIN || def->hash_key != NULL || def->hash_field != NULL)) {
    fprintf(stderr, "shimkit_router: --policy, --hash-key and --hash-field apply to the --backend set\n");
    return 2;
  }
  def->name = strdup("default");
  def->weight = 100;
  char err[300];
  if (def->n_backends > 0 && router_spec_validate(def, err, sizeof err) != 0) {
    fprintf(stderr, "shimkit_router: %s\n", err);
    return 2;
  }
  if (r->state_path != NULL || r->sets_path != NULL) {
    /* A bad state or sets file stops the router here, with the reason. */
    const char *path = r->state_path != NULL ? r->state_path : r->sets_path;
    const char *flag = r->state_path != NULL ? "--state" : "--sets-file";
    router_set_spec *specs = NULL;
    int n = 0;
    int rc = router_state_load(path, &specs, &n, err, sizeof err);
    router_specs_free(specs, n);
    if (rc < 0) {
      fprintf(stderr, "shimkit_router: bad %s file: %s\n", flag, err);
      return 2;
    }
    if (rc == 1 && r->sets_path != NULL) {
      fprintf(stderr, "shimkit_router: bad --sets-file file: %s: no such file\n", path);
      return 2;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  router *r = &g_router;
  router_init(r);
  bool help = false;
  for (int i = 1; i < argc; i++) {
    help = help || strcmp(argv[i], "--help") == 0;
    if (strcmp(argv[i], "--no-access-log") == 0) {
      r->access_log = false; /* also the server's own option: left in argv */
    }
  }
  int rc = take_options(r, &g_default, &argc, argv);
  if (rc == 0 && !help) {
    rc = check_options(r, &g_default);
  }
  if (rc != 0) {
    router_spec_clear(&g_default);
    return 2;
  }
  static const shim_cli_program program = {
      .name = "shimkit_router",
      .summary = "Forwards every gRPC call, byte for byte, to a healthy replica of a set; the sets are\n"
                 "  managed at run time with shimkit.router.v1.RouterAdmin on the same address.\n"
                 "  grpc.health.v1: \"\" is the router itself; a service a set lists is SERVING while\n"
                 "  one of that set's replicas is (the --backend set lists none).\n"
                 "  --backend ADDR          a replica of the catch-all set \"default\" (repeat for each);\n"
                 "                          dns:HOST:PORT = one replica per address HOST resolves to;\n"
                 "                          unix:PATH = a replica on this machine's unix socket PATH\n"
                 "  --policy P              its policy: round_robin (default), least_outstanding or hash\n"
                 "  --hash-key KEY          with --policy hash: the request metadata key hashed on\n"
                 "  --hash-field PATH       with --policy hash: the request field hashed on (model_name,\n"
                 "                          key.entity_id), learned from the replicas' reflection\n"
                 "  --state FILE            keep sets and weights in FILE (written after every change,\n"
                 "                          read at start)\n"
                 "  --sets-file FILE        read the sets from FILE (the --state format) and never write\n"
                 "                          it; RouterAdmin changes are not persisted (not with --state\n"
                 "                          or --backend)\n"
                 "  --health-retry-ms MS    re-watch a gone replica after MS (default 500)\n"
                 "  --resolve-interval-ms MS  resolve dns:HOST:PORT backends again every MS (default 5000)\n"
                 "  --no-unary-plan         forward unary methods message by message, as streams are\n"
                 "                          (by default they go in one batch each way once the\n"
                 "                          replicas' reflection says they are unary)\n"
                 "  --no-relay              no HTTP/2 relay in front: gRPC core serves --listen and\n"
                 "                          forwards every call (by default unary calls to sets that\n"
                 "                          do not hash on a field go straight to a replica, frame by\n"
                 "                          frame; docs/router.md)\n"
                 "  --retry-buffer-mib N    request bytes the relay keeps, all calls together, to send\n"
                 "                          a refused call to another replica (default 64; 0 = none:\n"
                 "                          refused calls go back to their clients to send again)",
      .options = NULL,
      .setup = setup,
      .drained = drained,
      .teardown = teardown,
      .ctx = &g_router,
      .setup_metrics = setup_metrics,
      .front_bind = front_bind,
      .front_start = front_start,
  };
  shim_cli_program without_relay = program;
  without_relay.front_bind = NULL;
  without_relay.front_start = NULL;
  rc = shim_cli_main(g_no_relay ? &without_relay : &program, argc, argv);
  router_spec_clear(&g_default);
  return rc;
}
