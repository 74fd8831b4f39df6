/*
 * echo_client.c - a command-line client of the Echo service built on the
 * generated C client stubs: the C side of "clients in any language".
 *
 * It prints each reply, the response headers and trailers, and the status,
 * so the demo and the tests can show exactly what crossed the wire.
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shimkit/shimkit.h>

#include "examples/echo.shimkit.h"

#define MAX_HEADERS 32

static void usage(FILE *out) {
  fprintf(out,
          "usage: echo_client [options] COMMAND ARGS...\n"
          "Calls shimkit.examples.v1.Echo through the generated C client stubs.\n"
          "\n"
          "commands:\n"
          "  say MESSAGE                 unary Say\n"
          "  expand MESSAGE COUNT        server-streaming Expand (COUNT replies)\n"
          "  collect MESSAGE...          client-streaming Collect (one request per word)\n"
          "  chat MESSAGE...             bidi Chat (one request, one reply per word)\n"
          "\n"
          "options:\n"
          "  --target ADDR               server address (default 127.0.0.1:50051)\n"
          "  --timeout-ms N              deadline of the call (default none)\n"
          "  --delay-ms N                ask the server to wait N ms before answering (say, chat)\n"
          "  --fail-code N               ask the server to fail with gRPC status N (say, chat)\n"
          "  -H, --header KEY:VALUE      request metadata (repeatable; keys x-echo-* come back)\n"
          "  --tls-ca FILE               use TLS, trusting this PEM CA\n"
          "  --tls-cert FILE             client certificate for mutual TLS (with --tls-key)\n"
          "  --tls-key FILE              key of --tls-cert\n"
          "  --server-name NAME          name expected in the server certificate\n"
          "  -h, --help                  this text\n"
          "\n"
          "Exit status: 0 when the call ends OK, 1 when it ends with another status, 2 on usage errors.\n");
}

static void print_metadata(const char *what, const shimkit_metadata *md) {
  for (size_t i = 0; i < shimkit_metadata_count(md); i++) {
    const char *k, *v;
    size_t len;
    if (shimkit_metadata_at(md, i, &k, &v, &len) == 0) printf("%s: %s: %.*s\n", what, k, (int)len, v);
  }
}

static void print_reply(const Shimkit__Examples__V1__EchoReply *r) {
  printf("reply[%u]: %s (served by %s)\n", r->index, r->message, r->served_by);
}

static Shimkit__Examples__V1__EchoRequest make_request(const char *message, unsigned delay_ms,
                                                       unsigned fail_code) {
  Shimkit__Examples__V1__EchoRequest req = SHIMKIT__EXAMPLES__V1__ECHO_REQUEST__INIT;
  req.message = (char *)message;
  req.delay_ms = delay_ms;
  req.fail_code = fail_code;
  return req;
}

static int run(shimkit_channel *ch, const shimkit_call_options *opts, const char *cmd, int argc, char **argv,
               unsigned delay_ms, unsigned fail_code) {
  if (strcmp(cmd, "say") == 0 && argc == 1) {
    Shimkit__Examples__V1__EchoRequest req = make_request(argv[0], delay_ms, fail_code);
    Shimkit__Examples__V1__EchoReply *reply = NULL;
    if (shimkit__examples__v1__echo__shimkit_say(ch, &req, &reply, opts) == SHIMKIT_OK) {
      print_reply(reply);
      protobuf_c_message_free_unpacked(&reply->base, NULL);
    }
    return 0;
  }
  if (strcmp(cmd, "expand") == 0 && argc == 2) {
    Shimkit__Examples__V1__ExpandRequest req = SHIMKIT__EXAMPLES__V1__EXPAND_REQUEST__INIT;
    req.message = argv[0];
    req.count = (uint32_t)strtoul(argv[1], NULL, 10);
    shimkit_client_call *call = shimkit__examples__v1__echo__shimkit_expand_start(ch, &req, opts);
    if (!call) return -1;
    Shimkit__Examples__V1__EchoReply *reply;
    while (shimkit__examples__v1__echo__shimkit_expand_recv(call, &reply) == 1) {
      print_reply(reply);
      protobuf_c_message_free_unpacked(&reply->base, NULL);
    }
    shimkit_client_call_finish(call);
    return 0;
  }
  if ((strcmp(cmd, "collect") == 0 || strcmp(cmd, "chat") == 0) && argc >= 1) {
    int is_chat = cmd[1] == 'h';
    shimkit_client_call *call = is_chat ? shimkit__examples__v1__echo__shimkit_chat_start(ch, opts)
                                        : shimkit__examples__v1__echo__shimkit_collect_start(ch, opts);
    if (!call) return -1;
    for (int i = 0; i < argc; i++) {
      Shimkit__Examples__V1__EchoRequest req = make_request(argv[i], delay_ms, fail_code);
      if (shimkit_client_call_send(call, &req.base) != 0) break;
      if (is_chat) {
        Shimkit__Examples__V1__EchoReply *reply;
        if (shimkit__examples__v1__echo__shimkit_chat_recv(call, &reply) != 1) break;
        print_reply(reply);
        protobuf_c_message_free_unpacked(&reply->base, NULL);
      }
    }
    shimkit_client_call_close_send(call);
    if (!is_chat) {
      Shimkit__Examples__V1__CollectReply *reply;
      if (shimkit__examples__v1__echo__shimkit_collect_recv(call, &reply) == 1) {
        printf("collected %u: %s\n", reply->count, reply->joined);
        protobuf_c_message_free_unpacked(&reply->base, NULL);
      }
    } else {
      Shimkit__Examples__V1__EchoReply *extra;
      while (shimkit__examples__v1__echo__shimkit_chat_recv(call, &extra) == 1)
        protobuf_c_message_free_unpacked(&extra->base, NULL);
    }
    shimkit_client_call_finish(call);
    return 0;
  }
  return 2;
}

int main(int argc, char **argv) {
  enum { OPT_TIMEOUT = 256, OPT_DELAY, OPT_FAIL, OPT_CA, OPT_CERT, OPT_KEY, OPT_SNI };
  static const struct option longopts[] = {
      {"target", required_argument, NULL, 't'},
      {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
      {"delay-ms", required_argument, NULL, OPT_DELAY},
      {"fail-code", required_argument, NULL, OPT_FAIL},
      {"header", required_argument, NULL, 'H'},
      {"tls-ca", required_argument, NULL, OPT_CA},
      {"tls-cert", required_argument, NULL, OPT_CERT},
      {"tls-key", required_argument, NULL, OPT_KEY},
      {"server-name", required_argument, NULL, OPT_SNI},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *target = "127.0.0.1:50051";
  shimkit_channel_tls tls = {0};
  long timeout_ms = 0;
  unsigned delay_ms = 0, fail_code = 0;
  shimkit_metadata *headers = shimkit_metadata_new();
  int c, exit_code = 2;
  while ((c = getopt_long(argc, argv, "hH:t:", longopts, NULL)) != -1) {
    switch (c) {
    case 't': target = optarg; break;
    case OPT_TIMEOUT: timeout_ms = strtol(optarg, NULL, 10); break;
    case OPT_DELAY: delay_ms = (unsigned)strtoul(optarg, NULL, 10); break;
    case OPT_FAIL: fail_code = (unsigned)strtoul(optarg, NULL, 10); break;
    case OPT_CA: tls.ca_file = optarg; break;
    case OPT_CERT: tls.cert_file = optarg; break;
    case OPT_KEY: tls.key_file = optarg; break;
    case OPT_SNI: tls.server_name = optarg; break;
    case 'H': {
      char *colon = strchr(optarg, ':');
      if (!colon) {
        fprintf(stderr, "echo_client: --header wants KEY:VALUE, got '%s'\n", optarg);
        goto out;
      }
      *colon = '\0';
      const char *value = colon + 1;
      while (*value == ' ')
        value++;
      if (shimkit_metadata_add_string(headers, optarg, value) != SHIMKIT_OK) {
        fprintf(stderr, "echo_client: '%s' is not a valid metadata key (lower-case letters, digits, - _ .)\n",
                optarg);
        goto out;
      }
      break;
    }
    case 'h':
      usage(stdout);
      exit_code = 0;
      goto out;
    default: usage(stderr); goto out;
    }
  }
  if (optind >= argc) {
    usage(stderr);
    goto out;
  }
  if ((tls.cert_file || tls.key_file || tls.server_name) && !tls.ca_file) {
    fprintf(stderr, "echo_client: TLS options need --tls-ca\n");
    goto out;
  }

  shimkit_channel *ch = shimkit_channel_new(target, tls.ca_file ? &tls : NULL, 0);
  if (!ch) {
    fprintf(stderr, "echo_client: cannot create a channel to %s (see the log above)\n", target);
    exit_code = 1;
    goto out;
  }
  shimkit_metadata *initial = shimkit_metadata_new(), *trailing = shimkit_metadata_new();
  shimkit_status status = {0};
  shimkit_call_options opts = {.timeout_ms = timeout_ms,
                               .metadata = headers,
                               .initial_out = initial,
                               .trailing_out = trailing,
                               .status_out = &status};
  int rc = run(ch, &opts, argv[optind], argc - optind - 1, argv + optind + 1, delay_ms, fail_code);
  if (rc == 2) {
    fprintf(stderr, "echo_client: wrong arguments for '%s' (see --help)\n", argv[optind]);
  } else if (rc < 0) {
    fprintf(stderr, "echo_client: could not start the call (out of memory?)\n");
    exit_code = 1;
  } else {
    print_metadata("header", initial);
    print_metadata("trailer", trailing);
    printf("status: %s%s%s\n", shimkit_code_name(status.code), status.message && *status.message ? ": " : "",
           status.message ? status.message : "");
    exit_code = status.code == SHIMKIT_OK ? 0 : 1;
  }
  shimkit_status_clear(&status);
  shimkit_metadata_free(initial);
  shimkit_metadata_free(trailing);
  shimkit_channel_free(ch);
out:
  shimkit_metadata_free(headers);
  return exit_code;
}
