/*
 * echo_shim.c - the example shim program: serves the Echo service with
 * health checking and reflection, the way every shimkit shim is put together:
 * a name, its own options, and a function that registers its services. The
 * common flags (listen, TLS, workers, limits, drain, metrics, --config) come
 * from services/common/shim_cli.
 */
#include "echo_handlers.h"
#include "shim_cli.h"

static shimkit_code register_echo(shimkit_server *srv, void *ctx) {
  return shimkit__examples__v1__echo__shimkit_register(srv, &echo_handlers, ctx);
}

int main(int argc, char **argv) {
  static echo_state state = {.served_by = "echo"};
  const shim_cli_option options[] = {
      {"name", "NAME", "name put in every reply's served_by (default echo)", &state.served_by},
      {0},
  };
  const shim_cli_program program = {
      .name = "echo_shim",
      .summary = "Serves shimkit.examples.v1.Echo (proto/examples/echo.proto) with gRPC health\n"
                 "checking and server reflection.",
      .options = options,
      .setup = register_echo,
      .ctx = &state,
  };
  return shim_cli_main(&program, argc, argv);
}
