/*
 * client_gen.c - typed client stubs for one proto service.
 *
 * Thin wrappers over shimkit/client.h that fix the method table entry and
 * the message types: unary calls and stream starts are functions in the
 * .c file; per-message _send / _recv are static inline in the header.
 */
#include "codegen.h"

static void vars_for(sk_ctx *ctx, sk_vars *v, const sk_service_info *svc,
                     const sk_method_info *mi) {
  sk_vars_set(ctx, v, "lower", svc->lower);
  sk_vars_set(ctx, v, "UPPER", svc->upper);
  sk_vars_set(ctx, v, "name", mi->name);
  sk_vars_set(ctx, v, "snake", mi->snake);
  sk_vars_set(ctx, v, "METHOD", mi->upper);
  sk_vars_set(ctx, v, "In", mi->in_type);
  sk_vars_set(ctx, v, "Out", mi->out_type);
}

void sk_client_gen_header(sk_ctx *ctx, sk_printer *h, const sk_service_info *svc,
                          sk_names *names) {
  sk_vars v = {0};
  for (size_t i = 0; i < svc->n_methods; i++) {
    const sk_method_info *mi = &svc->methods[i];
    vars_for(ctx, &v, svc, mi);
    if (!mi->client_streaming && !mi->server_streaming) {
      sk_print(h, &v,
               "/* Client: calls $name$. On SHIMKIT_OK *response is the reply (free it with\n"
               " * protobuf_c_message_free_unpacked); otherwise NULL. */\n"
               "shimkit_code $lower$__shimkit_$snake$(shimkit_channel *channel, const $In$ *request,\n"
               "    $Out$ **response, const shimkit_call_options *opts);\n\n");
      sk_names_add(ctx, names, sk_printf(ctx, "%s__shimkit_%s", svc->lower, mi->snake));
      continue;
    }
    if (!mi->client_streaming) {
      sk_print(h, &v,
               "/* Client: starts $name$ with its request (sent and closed); then _recv\n"
               " * until 0, then shimkit_client_call_finish(). NULL when out of memory. */\n"
               "shimkit_client_call *$lower$__shimkit_$snake$_start(shimkit_channel *channel,\n"
               "    const $In$ *request, const shimkit_call_options *opts);\n\n");
    } else {
      sk_print(h, &v,
               "/* Client: starts $name$; then _send, shimkit_client_call_close_send(),\n"
               " * _recv, shimkit_client_call_finish(). NULL when out of memory. */\n"
               "shimkit_client_call *$lower$__shimkit_$snake$_start(shimkit_channel *channel,\n"
               "    const shimkit_call_options *opts);\n\n"
               "/* Client: sends one $name$ request; 0, or -1 when the call has ended. */\n"
               "static inline int $lower$__shimkit_$snake$_send(shimkit_client_call *call,\n"
               "    const $In$ *request) {\n"
               "  return shimkit_client_call_send(call, (const ProtobufCMessage *)request);\n"
               "}\n\n");
      sk_names_add(ctx, names, sk_printf(ctx, "%s__shimkit_%s_send", svc->lower, mi->snake));
    }
    sk_names_add(ctx, names, sk_printf(ctx, "%s__shimkit_%s_start", svc->lower, mi->snake));
    sk_names_add(ctx, names, sk_printf(ctx, "%s__shimkit_%s_recv", svc->lower, mi->snake));
    sk_print(h, &v,
             "/* Client: next $name$ reply; 1 and *reply (caller frees it with\n"
             " * protobuf_c_message_free_unpacked), 0 at the end, -1 on error. */\n"
             "static inline int $lower$__shimkit_$snake$_recv(shimkit_client_call *call, $Out$ **reply) {\n"
             "  ProtobufCMessage *message = NULL;\n"
             "  int rc = shimkit_client_call_recv(call, &message);\n"
             "  *reply = rc == 1 ? ($Out$ *)message : NULL;\n"
             "  return rc;\n"
             "}\n\n");
  }
}

void sk_client_gen_source(sk_ctx *ctx, sk_printer *c, const sk_service_info *svc) {
  sk_vars v = {0};
  for (size_t i = 0; i < svc->n_methods; i++) {
    const sk_method_info *mi = &svc->methods[i];
    vars_for(ctx, &v, svc, mi);
    if (!mi->client_streaming && !mi->server_streaming) {
      sk_print(c, &v,
               "shimkit_code $lower$__shimkit_$snake$(shimkit_channel *channel, const $In$ *request,\n"
               "    $Out$ **response, const shimkit_call_options *opts) {\n"
               "  ProtobufCMessage *reply = NULL;\n"
               "  shimkit_code code = shimkit_unary_call(channel,\n"
               "      &$lower$__shimkit_methods[$UPPER$__SHIMKIT_$METHOD$],\n"
               "      (const ProtobufCMessage *)request, &reply, opts);\n"
               "  if (response != NULL) {\n"
               "    *response = ($Out$ *)reply;\n"
               "  } else if (reply != NULL) {\n"
               "    protobuf_c_message_free_unpacked(reply, NULL);\n"
               "  }\n"
               "  return code;\n"
               "}\n\n");
    } else if (!mi->client_streaming) {
      sk_print(c, &v,
               "shimkit_client_call *$lower$__shimkit_$snake$_start(shimkit_channel *channel,\n"
               "    const $In$ *request, const shimkit_call_options *opts) {\n"
               "  shimkit_client_call *call = shimkit_client_call_start(channel,\n"
               "      &$lower$__shimkit_methods[$UPPER$__SHIMKIT_$METHOD$], opts);\n"
               "  if (call == NULL) return NULL;\n"
               "  /* a failed send shows in _recv and shimkit_client_call_finish() */\n"
               "  if (shimkit_client_call_send(call, (const ProtobufCMessage *)request) == 0) {\n"
               "    (void)shimkit_client_call_close_send(call);\n"
               "  }\n"
               "  return call;\n"
               "}\n\n");
    } else {
      sk_print(c, &v,
               "shimkit_client_call *$lower$__shimkit_$snake$_start(shimkit_channel *channel,\n"
               "    const shimkit_call_options *opts) {\n"
               "  return shimkit_client_call_start(channel,\n"
               "      &$lower$__shimkit_methods[$UPPER$__SHIMKIT_$METHOD$], opts);\n"
               "}\n\n");
    }
  }
}
