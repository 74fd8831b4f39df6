/*
 * shim_cli.h - the command line every shim program shares.
 *
 * A shim program is a main() that names itself, lists its own options and
 * registers its services; everything else (listen address, TLS, workers,
 * limits, drain, logging, metrics, --config files, --help, the "listening
 * on" line, SIGTERM drain) is the same for all and lives here once.
 */
#ifndef SHIMKIT_SHIM_CLI_H
#define SHIMKIT_SHIM_CLI_H

#include <shimkit/shimkit.h>

/* An option of one program, on top of the common ones. */
typedef struct shim_cli_option {
  const char *name;     /* long name without dashes: "data-dir" */
  const char *arg_name; /* "DIR"; NULL for a flag without argument */
  const char *help;     /* one line for --help */
  const char **value;   /* receives the argument; a flag receives "1"; keep your default here */
} shim_cli_option;

/* What a program tells shim_cli_main about itself. */
typedef struct shim_cli_program {
  const char *name;                 /* program name for messages: "echo_shim" */
  const char *summary;              /* what it serves, for --help (may span lines) */
  const shim_cli_option *options;   /* its own options, ended by an entry with name NULL; may be NULL */
  /* Checks the values of its own options once all are parsed, before
   * anything is bound or opened: 0, or -1 after printing a reason that names
   * the option (the program then exits 2, as for any bad option). Setup is
   * for what can fail at run time (a server to reach, a file to open); may
   * be NULL. */
  int (*check)(void *ctx);
  /* Registers the services (after the listener is bound, before start).
   * Return SHIMKIT_OK, or a code after printing a reason to stderr. */
  shimkit_code (*setup)(shimkit_server *srv, void *ctx);
  /* Called once the server has stopped and been freed, also after a failed
   * setup; may be NULL. */
  void (*teardown)(void *ctx);
  /* Called once the server has drained (no call left), before it is freed;
   * may be NULL. What uses the server from threads of its own stops here. */
  void (*drained)(void *ctx);
  void *ctx; /* passed to setup, drained and teardown */
  /* With --metrics-listen: called with the registry before setup, to add
   * series of the program's own (shimkit_metrics_add_collector); may be NULL.
   * The registry is freed after the server, before teardown. */
  shimkit_code (*setup_metrics)(shimkit_metrics *metrics, void *ctx);
  /* Optional front on a plaintext HOST:PORT listen address (the router's
   * relay): front_bind binds that address itself (*port: the bound port),
   * with drain_grace_ms of the options, and returns the address the server
   * listens on instead (NULL after printing a reason: the start fails;
   * listen itself: the front declines, the server listens there);
   * front_start runs once the server has started. The "listening on" line
   * names the front's address. With TLS or a unix: address there is no
   * front: the server listens on the address itself. */
  const char *(*front_bind)(const char *listen, int drain_grace_ms, int *port, void *ctx);
  shimkit_code (*front_start)(void *ctx);
} shim_cli_program;

/*
 * Parses the command line (and any --config FILE: one "option = value" or
 * "flag" per line, # comments; command-line flags win), serves until SIGTERM
 * or SIGINT, drains, and returns the exit status: 0 after a clean stop, 1
 * when the server cannot start, 2 on bad options: an unknown option (also
 * in the --config file, named with its line), a bad value, a --listen
 * address not of the forms shim_addr.h accepts, a TLS file that cannot be
 * read, or the program's check refusing its options.
 */
int shim_cli_main(const shim_cli_program *program, int argc, char **argv);

#endif /* SHIMKIT_SHIM_CLI_H */
