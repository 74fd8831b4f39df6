/*
 * shim_cli.c - see shim_cli.h. One getopt_long table is built from the
 * common options plus the program's own; a --config file is turned into
 * "--name=value" arguments placed before the real ones, so the command line
 * wins where both set an option.
 */
#define _POSIX_C_SOURCE 200809L

#include "shim_cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim_addr.h"
#include "shim_bind_why.h"

#define CONFIG_MAX_BYTES (64 * 1024)
#define CONFIG_MAX_ENTRIES 256
#define EXTRA_BASE 1000
#define MAX_EXTRA 64

enum {
  OPT_LISTEN = 256,
  OPT_WORKERS,
  OPT_GRACE,
  OPT_DELAY,
  OPT_MAXMSG,
  OPT_CERT,
  OPT_KEY,
  OPT_CA,
  OPT_REQUIRE,
  OPT_NOLOG,
  OPT_LEVEL,
  OPT_METRICS,
  OPT_CONFIG,
  OPT_HELP
};

static const struct option common_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"drain-grace-ms", required_argument, NULL, OPT_GRACE},
    {"drain-delay-ms", required_argument, NULL, OPT_DELAY},
    {"max-message-bytes", required_argument, NULL, OPT_MAXMSG},
    {"tls-cert", required_argument, NULL, OPT_CERT},
    {"tls-key", required_argument, NULL, OPT_KEY},
    {"tls-client-ca", required_argument, NULL, OPT_CA},
    {"require-client-cert", no_argument, NULL, OPT_REQUIRE},
    {"no-access-log", no_argument, NULL, OPT_NOLOG},
    {"log-level", required_argument, NULL, OPT_LEVEL},
    {"metrics-listen", required_argument, NULL, OPT_METRICS},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"help", no_argument, NULL, OPT_HELP},
};
#define N_COMMON (sizeof common_options / sizeof common_options[0])

/* Everything the common options set. */
typedef struct shim_settings {
  const char *listen;
  const char *metrics_listen;
  shimkit_server_options server;
  shimkit_tls_options tls;
} shim_settings;

static void usage(const shim_cli_program *p, FILE *out) {
  fprintf(out, "usage: %s [options]\n%s\n", p->name, p->summary);
  if (p->options && p->options->name) fputc('\n', out); /* a blank line before its own options, if any */
  for (const shim_cli_option *o = p->options; o && o->name; o++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg_name ? " " : "", o->arg_name ? o->arg_name : "");
    fprintf(out, "  %-28s %s\n", left, o->help);
  }
  fprintf(out,
          "\ncommon to every shim:\n"
          "  --listen ADDR                address to serve on (default 127.0.0.1:50051; port 0 = any free "
          "port):\n"
          "                               HOST:PORT, [IPv6]:PORT or unix:PATH\n"
          "  --workers N                  most handler threads, started on demand (default 64)\n"
          "  --drain-grace-ms N           on SIGTERM, time in-flight calls get to finish (default 10000)\n"
          "  --drain-delay-ms N           on SIGTERM, first report NOT_SERVING and keep serving new calls\n"
          "                               for N ms, so routers watching health stop sending (default 0)\n"
          "  --max-message-bytes N        largest message received or sent (default 4194304)\n"
          "  --tls-cert FILE              serve TLS with this PEM certificate chain (needs --tls-key)\n"
          "  --tls-key FILE               PEM private key of --tls-cert\n"
          "  --tls-client-ca FILE         PEM CA that signs client certificates\n"
          "  --require-client-cert        mutual TLS: refuse clients without a valid certificate\n"
          "  --no-access-log              do not log one JSON line per call\n"
          "  --log-level LEVEL            debug, info, warn, error or off (default info)\n"
          "  --metrics-listen ADDR        serve Prometheus metrics at http://ADDR/metrics (IPv4:port)\n"
          "  --config FILE                read options from FILE: 'option = value' or 'flag' per line\n"
          "  -h, --help                   this text\n"
          "\nSIGTERM or SIGINT drains and stops it. Health and reflection are always served:\n"
          "  grpcurl -plaintext ADDR list\n");
}

static int parse_int(const char *prog, const char *flag, const char *text, int min, int max, int *out) {
  char *end;
  long v = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "%s: %s wants a whole number from %d to %d, got '%s'\n", prog, flag, min, max, text);
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int parse_log_level(const char *prog, const char *text) {
  static const char *names[] = {"debug", "info", "warn", "error", "off"};
  for (int i = 0; i < 5; i++)
    if (strcmp(text, names[i]) == 0) return i;
  fprintf(stderr, "%s: --log-level wants debug, info, warn, error or off, got '%s'\n", prog, text);
  return -1;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  char *end = s + strlen(s);
  while (end > s && isspace((unsigned char)end[-1]))
    *--end = '\0';
  return s;
}

/* 1 for an option that takes a value, 0 for a flag, -1 for no such option. */
static int option_kind(const shim_cli_program *p, const char *key) {
  for (size_t i = 0; i < N_COMMON; i++)
    if (strcmp(common_options[i].name, key) == 0) return common_options[i].has_arg == required_argument;
  for (const shim_cli_option *o = p->options; o && o->name; o++)
    if (strcmp(o->name, key) == 0) return o->arg_name != NULL;
  return -1;
}

/* 0 when key (= value) is an option of p written the right way; else -1 after saying so at path:lineno. */
static int check_config_entry(const shim_cli_program *p, const char *path, int lineno, const char *key,
                              const char *value) {
  int kind = option_kind(p, key);
  if (kind < 0 || strcmp(key, "help") == 0) {
    fprintf(stderr, "%s: %s:%d: unknown option '%s' (the options are those of --help, without the dashes)\n",
            p->name, path, lineno, key);
    return -1;
  }
  if (kind == 1 && value == NULL) {
    fprintf(stderr, "%s: %s:%d: option '%s' needs a value: '%s = VALUE'\n", p->name, path, lineno, key, key);
    return -1;
  }
  if (kind == 0 && value != NULL) {
    fprintf(stderr, "%s: %s:%d: '%s' is a flag: write it alone, without '= %s'\n", p->name, path, lineno, key,
            value);
    return -1;
  }
  return 0;
}

/* Appends "--key=value" / "--flag" entries of the config file to args. */
static int read_config(const shim_cli_program *p, const char *path, char **args, int *n) {
  const char *prog = p->name;
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "%s: cannot read --config %s: %s\n", prog, path, strerror(errno));
    return -1;
  }
  char line[1024];
  int lineno = 0, total = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    total += (int)strlen(line);
    if (total > CONFIG_MAX_BYTES || *n >= CONFIG_MAX_ENTRIES) {
      fprintf(stderr, "%s: %s is too large (at most %d bytes, %d options)\n", prog, path, CONFIG_MAX_BYTES,
              CONFIG_MAX_ENTRIES);
      fclose(f);
      return -1;
    }
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *s = trim(line);
    if (*s == '\0') continue;
    char *eq = strchr(s, '=');
    char *key = s, *value = NULL;
    if (eq) {
      *eq = '\0';
      key = trim(s);
      value = trim(eq + 1);
    }
    if (*key == '\0' || strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(key) ||
        key[0] == '-' || strcmp(key, "config") == 0) {
      fprintf(stderr,
              "%s: %s:%d: want 'option = value' or 'flag' (option names as in --help, without the dashes; no "
              "nested config)\n",
              prog, path, lineno);
      fclose(f);
      return -1;
    }
    if (check_config_entry(p, path, lineno, key, value) != 0) {
      fclose(f);
      return -1;
    }
    size_t len = strlen(key) + (value ? strlen(value) + 1 : 0) + 3;
    char *arg = malloc(len);
    if (!arg) {
      fclose(f);
      return -1;
    }
    snprintf(arg, len, "--%s%s%s", key, value ? "=" : "", value ? value : "");
    args[(*n)++] = arg;
  }
  fclose(f);
  return 0;
}

/* 0 when --listen has one of the accepted forms; else -1 after saying why. */
static int check_listen(const shim_cli_program *p, const char *listen) {
  char why[128];
  if (shim_addr_check(listen, why, sizeof why) == 0) return 0;
  fprintf(stderr, "%s: --listen '%s' is not a valid address: %s; want " SHIM_ADDR_FORMS "\n", p->name, listen,
          why);
  return -1;
}

/* 0 when the file given to flag (if any) can be opened for reading; else -1 after saying which. */
static int check_readable(const shim_cli_program *p, const char *flag, const char *path) {
  if (path == NULL) return 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "%s: cannot read %s %s: %s\n", p->name, flag, path, strerror(errno));
    return -1;
  }
  fclose(f);
  return 0;
}

/* The checks of option combinations and values once all are parsed: 0, or 2 (reason printed). */
static int check_settings(const shim_cli_program *p, const shim_settings *s) {
  const shimkit_tls_options *t = &s->tls;
  if (!t->cert_file != !t->key_file) {
    fprintf(stderr, "%s: --tls-cert and --tls-key go together\n", p->name);
    return 2;
  }
  if ((t->client_ca_file || t->require_client_cert) && !t->cert_file) {
    fprintf(stderr, "%s: --tls-client-ca and --require-client-cert need --tls-cert and --tls-key\n", p->name);
    return 2;
  }
  if (t->require_client_cert && !t->client_ca_file) {
    fprintf(stderr, "%s: --require-client-cert needs --tls-client-ca to verify clients with\n", p->name);
    return 2;
  }
  if (check_listen(p, s->listen) != 0 || check_readable(p, "--tls-cert", t->cert_file) != 0 ||
      check_readable(p, "--tls-key", t->key_file) != 0 ||
      check_readable(p, "--tls-client-ca", t->client_ca_file) != 0)
    return 2;
  if (p->check && p->check(p->ctx) != 0) return 2;
  return 0;
}

/* Parses common and program options. 0 = go on, 1 = --help was shown, 2 = bad options. */
static int parse(const shim_cli_program *p, int argc, char **argv, shim_settings *s) {
  struct option table[N_COMMON + MAX_EXTRA + 1];
  size_t n = 0;
  for (; n < N_COMMON; n++)
    table[n] = common_options[n];
  size_t n_extra = 0;
  for (const shim_cli_option *o = p->options; o && o->name && n_extra < MAX_EXTRA; o++, n_extra++)
    table[n++] = (struct option){o->name, o->arg_name ? required_argument : no_argument, NULL,
                                 EXTRA_BASE + (int)n_extra};
  table[n] = (struct option){NULL, 0, NULL, 0};

  int c, level;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", table, NULL)) != -1) {
    if (c >= EXTRA_BASE && c < EXTRA_BASE + (int)n_extra) {
      *p->options[c - EXTRA_BASE].value = optarg ? optarg : "1";
      continue;
    }
    switch (c) {
    case OPT_LISTEN: s->listen = optarg; break;
    case OPT_WORKERS:
      if (parse_int(p->name, "--workers", optarg, 1, 1024, &s->server.worker_threads) != 0) return 2;
      break;
    case OPT_GRACE:
      if (parse_int(p->name, "--drain-grace-ms", optarg, 0, 3600000, &s->server.drain_grace_ms) != 0)
        return 2;
      break;
    case OPT_DELAY:
      if (parse_int(p->name, "--drain-delay-ms", optarg, 0, 3600000, &s->server.drain_delay_ms) != 0)
        return 2;
      break;
    case OPT_MAXMSG:
      if (parse_int(p->name, "--max-message-bytes", optarg, 64, 1 << 30, &s->server.max_receive_bytes) != 0)
        return 2;
      s->server.max_send_bytes = s->server.max_receive_bytes;
      break;
    case OPT_CERT: s->tls.cert_file = optarg; break;
    case OPT_KEY: s->tls.key_file = optarg; break;
    case OPT_CA: s->tls.client_ca_file = optarg; break;
    case OPT_REQUIRE: s->tls.require_client_cert = true; break;
    case OPT_NOLOG: s->server.access_log = false; break;
    case OPT_METRICS: s->metrics_listen = optarg; break;
    case OPT_CONFIG: break; /* read before parsing */
    case OPT_LEVEL:
      if ((level = parse_log_level(p->name, optarg)) < 0) return 2;
      shimkit_log_set_level((shimkit_log_level)level);
      break;
    case 'h':
    case OPT_HELP: usage(p, stdout); return 1;
    default: fprintf(stderr, "%s: see --help\n", p->name); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", p->name, argv[optind]);
    return 2;
  }
  return check_settings(p, s);
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

static int serve(const shim_cli_program *p, shim_settings *s) {
  shimkit_server *srv = shimkit_server_new(&s->server);
  if (!srv) {
    fprintf(stderr, "%s: could not create the server (see the log above)\n", p->name);
    return 1;
  }
  shimkit_metrics *metrics = NULL;
  int port = 0;
  const shimkit_tls_options *tls = s->tls.cert_file ? &s->tls : NULL;
  const char *server_listen = s->listen;
  bool fronted = p->front_bind != NULL && tls == NULL && strncmp(s->listen, "unix", 4) != 0;
  int front_port = 0;
  if (fronted &&
      (server_listen = p->front_bind(s->listen, s->server.drain_grace_ms, &front_port, p->ctx)) == NULL) {
    goto fail;
  }
  fronted = fronted && server_listen != s->listen; /* the front may decline the address */
  shimkit_code rc = shimkit_server_add_listener(srv, server_listen, tls, &port);
  if (rc == SHIMKIT_UNAVAILABLE) {
    char why[320];
    shim_bind_why(s->listen, why, sizeof why);
    fprintf(stderr, "%s: cannot listen on %s: the bind failed (%s)\n", p->name, s->listen, why);
    goto fail;
  }
  if (rc != SHIMKIT_OK) {
    fprintf(stderr, "%s: cannot listen on %s: %s (see the line above)\n", p->name, s->listen,
            shimkit_strerror(rc));
    goto fail;
  }
  if (s->metrics_listen) {
    metrics = shimkit_metrics_new();
    rc = metrics ? shimkit_metrics_attach(metrics, srv) : SHIMKIT_RESOURCE_EXHAUSTED;
    if (rc == SHIMKIT_OK && p->setup_metrics) rc = p->setup_metrics(metrics, p->ctx);
    if (rc == SHIMKIT_OK) rc = shimkit_metrics_listen(metrics, s->metrics_listen, NULL);
    if (rc != SHIMKIT_OK) {
      fprintf(stderr, "%s: cannot serve metrics on %s: %s\n", p->name, s->metrics_listen,
              shimkit_strerror(rc));
      goto fail;
    }
  }
  rc = p->setup ? p->setup(srv, p->ctx) : SHIMKIT_OK;
  if (rc != SHIMKIT_OK) {
    fprintf(stderr, "%s: cannot start: %s\n", p->name, shimkit_strerror(rc));
    goto fail;
  }
  rc = shimkit_server_start(srv);
  if (rc != SHIMKIT_OK) {
    fprintf(stderr, "%s: cannot start: %s\n", p->name, shimkit_strerror(rc));
    goto fail;
  }
  if (fronted && (rc = p->front_start(p->ctx)) != SHIMKIT_OK) {
    fprintf(stderr, "%s: cannot start: %s\n", p->name, shimkit_strerror(rc));
    shimkit_server_shutdown(srv);
    shimkit_server_wait(srv);
    goto fail;
  }
  char bound[256];
  format_bound_address(s->listen, fronted ? front_port : port, bound, sizeof bound);
  shimkit_log(SHIMKIT_LOG_INFO, p->name, "listening on %s (%s)", bound,
              tls ? (tls->require_client_cert ? "mutual TLS" : "TLS") : "plaintext");
  shimkit_server_wait(srv);
  if (p->drained) p->drained(p->ctx);
  shimkit_server_free(srv);
  shimkit_metrics_free(metrics);
  if (p->teardown) p->teardown(p->ctx);
  shimkit_log(SHIMKIT_LOG_INFO, p->name, "stopped");
  return 0;
fail:
  if (p->drained && srv) p->drained(p->ctx);
  shimkit_server_free(srv);
  shimkit_metrics_free(metrics);
  if (p->teardown) p->teardown(p->ctx);
  return 1;
}

int shim_cli_main(const shim_cli_program *p, int argc, char **argv) {
  shim_settings s = {.listen = "127.0.0.1:50051"};
  shimkit_server_options_init(&s.server);

  /* Arguments: argv[0], then the config file's options, then the real ones. */
  char **args = calloc((size_t)argc + CONFIG_MAX_ENTRIES + 1, sizeof *args);
  int n = 0, first_config = 1, rc = 2;
  if (!args) return 1;
  args[n++] = argv[0];
  for (int i = 1; i < argc; i++) {
    const char *path = NULL;
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
      path = argv[i + 1];
    else if (strncmp(argv[i], "--config=", 9) == 0)
      path = argv[i] + 9;
    if (path && read_config(p, path, args, &n) != 0) goto out;
  }
  int n_config = n - first_config;
  for (int i = 1; i < argc; i++)
    args[n++] = argv[i];
  args[n] = NULL;

  rc = parse(p, n, args, &s);
  if (rc == 1)
    rc = 0;
  else if (rc == 0)
    rc = serve(p, &s);
  /* Options from the config file point into args: free them only now. */
  for (int i = 0; i < n_config; i++)
    free(args[first_config + i]);
  free(args);
  return rc;
out:
  for (int i = first_config; i < n; i++)
    free(args[i]);
  free(args);
  return rc;
}
