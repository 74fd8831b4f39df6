/*
 * main.c - serves Greeter in-process and calls it through the generated
 * client stub: proof that an installed shimkit is enough to build a shim.
 */
#include <stdio.h>
#include <string.h>

#include <shimkit/shimkit.h>

#include "greeter.shimkit.h"

static shimkit_code greet(shimkit_call *call, const Google__Protobuf__StringValue *req,
                          Google__Protobuf__StringValue *resp, void *user_data) {
  const char *greeting = user_data;
  size_t n = strlen(greeting) + strlen(req->value) + 1;
  char *text = shimkit_call_alloc(call, n);
  if (!text) return SHIMKIT_RESOURCE_EXHAUSTED;
  snprintf(text, n, "%s%s", greeting, req->value);
  resp->value = text;
  return SHIMKIT_OK;
}

static const Outside__V1__Greeter_Handlers handlers = {.greet = greet};

int main(void) {
  shimkit_server_options opts;
  shimkit_server_options_init(&opts);
  opts.handle_signals = false;
  shimkit_server *srv = shimkit_server_new(&opts);
  int port = 0;
  if (!srv || shimkit_server_add_listener(srv, "127.0.0.1:0", NULL, &port) != SHIMKIT_OK ||
      outside__v1__greeter__shimkit_register(srv, &handlers, "hello, ") != SHIMKIT_OK ||
      shimkit_server_start(srv) != SHIMKIT_OK) {
    fprintf(stderr, "greeter_selftest: server did not start\n");
    return 1;
  }
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  shimkit_channel *ch = shimkit_channel_new(target, NULL, 0);
  Google__Protobuf__StringValue req = GOOGLE__PROTOBUF__STRING_VALUE__INIT, *resp = NULL;
  req.value = "installed shimkit";
  shimkit_call_options call_opts = {.timeout_ms = 5000};
  shimkit_code rc = outside__v1__greeter__shimkit_greet(ch, &req, &resp, &call_opts);
  int ok = rc == SHIMKIT_OK && resp && strcmp(resp->value, "hello, installed shimkit") == 0;
  printf("greeter_selftest: %s (%s)\n", ok ? "OK" : "FAILED", resp ? resp->value : shimkit_code_name(rc));
  if (resp) protobuf_c_message_free_unpacked(&resp->base, NULL);
  shimkit_channel_free(ch);
  shimkit_server_shutdown(srv);
  shimkit_server_wait(srv);
  shimkit_server_free(srv);
  return ok ? 0 : 1;
}
