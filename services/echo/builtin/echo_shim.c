/*
 * echo_shim.c - the example shim program: serves the Echo service with
 * health checking and reflection, the way every shimkit shim is put together.
 *
 * It is also the program the end-to-end tests and the benchmark drive, so its
 * flags expose the runtime's settings (TLS, workers, limits, drain).
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shimkit/shimkit.h>

#include "echo_handlers.h"

#define COMPONENT "echo_shim"

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: echo_shim [options]\n"
      "Serves shimkit.examples.v1.Echo (proto/examples/echo.proto) with gRPC health\n"
      "checking and server reflection. SIGTERM or SIGINT drains and stops it.\n"
      "\n"
      "  --listen ADDR             address to serve on (default 127.0.0.1:50051; port 0 = any free port)\n"
      "  --name NAME               name put in every reply's served_by (default echo)\n"
      "  --workers N               handler threads (default 16)\n"
      "  --drain-grace-ms N        on SIGTERM, time in-flight calls get to finish (default 10000)\n"
      "  --max-message-bytes N     largest message received or sent (default 4194304)\n"
      "  --tls-cert FILE           serve TLS with this PEM certificate chain (needs --tls-key)\n"
      "  --tls-key FILE            PEM private key of --tls-cert\n"
      "  --tls-client-ca FILE      PEM CA that signs client certificates\n"
      "  --require-client-cert     mutual TLS: refuse clients without a valid certificate\n"
      "  --no-access-log           do not log one JSON line per call\n"
      "  --metrics-listen ADDR     serve Prometheus metrics at http://ADDR/metrics (IPv4:port)\n"
      "  --log-level LEVEL         debug, info, warn, error or off (default info)\n"
      "  -h, --help                this text\n"
      "\n"
      "Try it: grpcurl -plaintext 127.0.0.1:50051 list\n");
}

static int parse_int(const char *flag, const char *text, int min, int max, int *out) {
  char *end;
  long v = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "echo_shim: %s wants a whole number from %d to %d, got '%s'\n", flag, min, max, text);
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int parse_log_level(const char *text) {
  static const char *names[] = {"debug", "info", "warn", "error", "off"};
  for (int i = 0; i < 5; i++)
    if (strcmp(text, names[i]) == 0) return i;
  fprintf(stderr, "echo_shim: --log-level wants debug, info, warn, error or off, got '%s'\n", text);
  return -1;
}

/* "127.0.0.1:0" with bound port 4711 -> "127.0.0.1:4711". */
static void format_bound_address(const char *listen, int port, char *out, size_t cap) {
  const char *colon = strrchr(listen, ':');
  if (!colon || strncmp(listen, "unix:", 5) == 0) {
    snprintf(out, cap, "%s", listen);
    return;
  }
  snprintf(out, cap, "%.*s:%d", (int)(colon - listen), listen, port);
}

int main(int argc, char **argv) {
  enum {
    OPT_NAME = 256,
    OPT_WORKERS,
    OPT_GRACE,
    OPT_MAXMSG,
    OPT_CERT,
    OPT_KEY,
    OPT_CA,
    OPT_REQUIRE,
    OPT_NOLOG,
    OPT_LEVEL,
    OPT_METRICS
  };
  static const struct option longopts[] = {
      {"listen", required_argument, NULL, 'l'},
      {"name", required_argument, NULL, OPT_NAME},
      {"workers", required_argument, NULL, OPT_WORKERS},
      {"drain-grace-ms", required_argument, NULL, OPT_GRACE},
      {"max-message-bytes", required_argument, NULL, OPT_MAXMSG},
      {"tls-cert", required_argument, NULL, OPT_CERT},
      {"tls-key", required_argument, NULL, OPT_KEY},
      {"tls-client-ca", required_argument, NULL, OPT_CA},
      {"require-client-cert", no_argument, NULL, OPT_REQUIRE},
      {"no-access-log", no_argument, NULL, OPT_NOLOG},
      {"log-level", required_argument, NULL, OPT_LEVEL},
      {"metrics-listen", required_argument, NULL, OPT_METRICS},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  shimkit_server_options opts;
  shimkit_server_options_init(&opts);
  shimkit_tls_options tls = {0};
  const char *listen = "127.0.0.1:50051";
  const char *metrics_listen = NULL;
  echo_state state = {.served_by = "echo"};
  int c, level;
  while ((c = getopt_long(argc, argv, "hl:", longopts, NULL)) != -1) {
    switch (c) {
    case 'l': listen = optarg; break;
    case OPT_NAME: state.served_by = optarg; break;
    case OPT_WORKERS:
      if (parse_int("--workers", optarg, 1, 1024, &opts.worker_threads) != 0) return 2;
      break;
    case OPT_GRACE:
      if (parse_int("--drain-grace-ms", optarg, 0, 3600000, &opts.drain_grace_ms) != 0) return 2;
      break;
    case OPT_MAXMSG:
      if (parse_int("--max-message-bytes", optarg, 64, 1 << 30, &opts.max_receive_bytes) != 0) return 2;
      opts.max_send_bytes = opts.max_receive_bytes;
      break;
    case OPT_CERT: tls.cert_file = optarg; break;
    case OPT_KEY: tls.key_file = optarg; break;
    case OPT_CA: tls.client_ca_file = optarg; break;
    case OPT_REQUIRE: tls.require_client_cert = true; break;
    case OPT_NOLOG: opts.access_log = false; break;
    case OPT_METRICS: metrics_listen = optarg; break;
    case OPT_LEVEL:
      if ((level = parse_log_level(optarg)) < 0) return 2;
      shimkit_log_set_level((shimkit_log_level)level);
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "echo_shim: unexpected argument '%s' (see --help)\n", argv[optind]);
    return 2;
  }
  if (!tls.cert_file != !tls.key_file) {
    fprintf(stderr, "echo_shim: --tls-cert and --tls-key go together\n");
    return 2;
  }
  if ((tls.client_ca_file || tls.require_client_cert) && !tls.cert_file) {
    fprintf(stderr, "echo_shim: --tls-client-ca and --require-client-cert need --tls-cert and --tls-key\n");
    return 2;
  }
  if (tls.require_client_cert && !tls.client_ca_file) {
    fprintf(stderr, "echo_shim: --require-client-cert needs --tls-client-ca to verify clients with\n");
    return 2;
  }

  shimkit_server *srv = shimkit_server_new(&opts);
  if (!srv) {
    fprintf(stderr, "echo_shim: could not create the server (see the log above)\n");
    return 1;
  }
  int port = 0;
  shimkit_code rc = shimkit_server_add_listener(srv, listen, tls.cert_file ? &tls : NULL, &port);
  if (rc != SHIMKIT_OK) {
    fprintf(stderr, "echo_shim: cannot listen on %s: %s (is the port in use? try --listen 127.0.0.1:0)\n",
            listen, shimkit_strerror(rc));
    shimkit_server_free(srv);
    return 1;
  }
  shimkit_metrics *metrics = NULL;
  if (metrics_listen) {
    metrics = shimkit_metrics_new();
    rc = metrics ? shimkit_metrics_attach(metrics, srv) : SHIMKIT_RESOURCE_EXHAUSTED;
    if (rc == SHIMKIT_OK) rc = shimkit_metrics_listen(metrics, metrics_listen, NULL);
    if (rc != SHIMKIT_OK) {
      fprintf(stderr, "echo_shim: cannot serve metrics on %s: %s\n", metrics_listen, shimkit_strerror(rc));
      shimkit_server_free(srv);
      shimkit_metrics_free(metrics);
      return 1;
    }
  }
  rc = shimkit__examples__v1__echo__shimkit_register(srv, &echo_handlers, &state);
  if (rc == SHIMKIT_OK) rc = shimkit_server_start(srv);
  if (rc != SHIMKIT_OK) {
    fprintf(stderr, "echo_shim: cannot start: %s\n", shimkit_strerror(rc));
    shimkit_server_free(srv);
    shimkit_metrics_free(metrics);
    return 1;
  }
  char bound[256];
  format_bound_address(listen, port, bound, sizeof bound);
  shimkit_log(SHIMKIT_LOG_INFO, COMPONENT, "listening on %s (%s, name %s, %d workers)", bound,
              tls.cert_file ? (tls.require_client_cert ? "mutual TLS" : "TLS") : "plaintext", state.served_by,
              opts.worker_threads);
  shimkit_server_wait(srv);
  shimkit_server_free(srv);
  shimkit_metrics_free(metrics);
  shimkit_log(SHIMKIT_LOG_INFO, COMPONENT, "stopped");
  return 0;
}
