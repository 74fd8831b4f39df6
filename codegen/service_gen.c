/*
 * service_gen.c - the server side of one proto service.
 *
 * Emits, per service: the method index enum, the typed handler table, the
 * typed stream helpers (header), and the invoke trampolines, the method
 * table sorted by path, the shimkit_service_desc and the register function
 * (source). The runtime only ever sees the untyped tables of
 * shimkit/service.h; the trampolines are the one place where the untyped
 * call becomes a typed one, so a NULL member can answer UNIMPLEMENTED.
 */
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

static const char *kind_name(bool cs, bool ss) {
  if (cs && ss) return "SHIMKIT_METHOD_BIDI_STREAMING";
  if (cs) return "SHIMKIT_METHOD_CLIENT_STREAMING";
  if (ss) return "SHIMKIT_METHOD_SERVER_STREAMING";
  return "SHIMKIT_METHOD_UNARY";
}

static int cmp_path(const void *a, const void *b) {
  const sk_method_info *x = *(const sk_method_info *const *)a;
  const sk_method_info *y = *(const sk_method_info *const *)b;
  return strcmp(x->path, y->path);
}

void sk_service_info_build(sk_ctx *ctx, const sk_request *r, const sk_file *file,
                           const sk_service *s, sk_service_info *out) {
  sk_check_ident(ctx, "service", s->name);
  const char *pkg = file->package != NULL ? file->package : "";
  memset(out, 0, sizeof *out);
  out->s = s;
  out->full_name = pkg[0] != '\0' ? sk_printf(ctx, "%s.%s", pkg, s->name) : s->name;
  out->type_prefix = sk_full_name_to_c(ctx, out->full_name, file);
  out->lower = sk_full_name_to_lower(ctx, out->full_name, file);
  out->upper = sk_full_name_to_upper(ctx, out->full_name, file);
  out->n_methods = s->n_method;
  out->methods = sk_alloc(ctx, (s->n_method + 1) * sizeof *out->methods);
  out->sorted = sk_alloc(ctx, (s->n_method + 1) * sizeof *out->sorted);
  for (size_t i = 0; i < s->n_method; i++) {
    const sk_method *m = s->method[i];
    sk_method_info *mi = &out->methods[i];
    sk_check_ident(ctx, "method", m->name);
    mi->m = m;
    mi->name = m->name;
    mi->path = sk_printf(ctx, "/%s/%s", out->full_name, m->name);
    mi->member = sk_member_name(ctx, m->name);
    /* per-method functions use the member name too: a method Register must
     * not give a client stub <svc>__shimkit_register, the register function */
    mi->snake = mi->member;
    mi->upper = sk_camel_to_upper(ctx, m->name);
    mi->client_streaming = m->has_client_streaming && m->client_streaming;
    mi->server_streaming = m->has_server_streaming && m->server_streaming;
    mi->kind = kind_name(mi->client_streaming, mi->server_streaming);
    if (m->input_type == NULL || m->output_type == NULL)
      sk_fail(ctx, "%s: method %s has no input or output type", file->name, mi->path);
    const sk_type *in = sk_find_type(ctx, r, m->input_type);
    const sk_type *outt = sk_find_type(ctx, r, m->output_type);
    mi->in_type = sk_full_name_to_c(ctx, in->full_name, in->file);
    mi->out_type = sk_full_name_to_c(ctx, outt->full_name, outt->file);
    mi->in_desc = sk_printf(ctx, "%s__descriptor", sk_full_name_to_lower(ctx, in->full_name, in->file));
    mi->out_desc =
        sk_printf(ctx, "%s__descriptor", sk_full_name_to_lower(ctx, outt->full_name, outt->file));
    out->sorted[i] = mi;
  }
  if (s->n_method > 1) qsort(out->sorted, s->n_method, sizeof *out->sorted, cmp_path);
  for (size_t i = 0; i < s->n_method; i++) {
    out->sorted[i]->index = i;
    if (i > 0 && strcmp(out->sorted[i - 1]->path, out->sorted[i]->path) == 0)
      sk_fail(ctx, "%s: method %s declared twice", file->name, out->sorted[i]->path);
  }
  /* handler members live in their own namespace (the struct): check them here */
  for (size_t i = 0; i < s->n_method; i++) {
    for (size_t j = i + 1; j < s->n_method; j++) {
      if (strcmp(out->methods[i].member, out->methods[j].member) == 0)
        sk_fail(ctx, "%s: methods %s and %s both map to handler member %s", file->name,
                out->methods[i].name, out->methods[j].name, out->methods[i].member);
    }
  }
}

static void method_vars(sk_ctx *ctx, sk_vars *v, const sk_service_info *svc,
                        const sk_method_info *mi) {
  sk_vars_set(ctx, v, "T", svc->type_prefix);
  sk_vars_set(ctx, v, "lower", svc->lower);
  sk_vars_set(ctx, v, "UPPER", svc->upper);
  sk_vars_set(ctx, v, "name", mi->name);
  sk_vars_set(ctx, v, "path", mi->path);
  sk_vars_set(ctx, v, "member", mi->member);
  sk_vars_set(ctx, v, "snake", mi->snake);
  sk_vars_set(ctx, v, "METHOD", mi->upper);
  sk_vars_set(ctx, v, "In", mi->in_type);
  sk_vars_set(ctx, v, "Out", mi->out_type);
  sk_vars_set(ctx, v, "in_desc", mi->in_desc);
  sk_vars_set(ctx, v, "out_desc", mi->out_desc);
  sk_vars_set(ctx, v, "kind", mi->kind);
  sk_vars_set(ctx, v, "index", sk_printf(ctx, "%zu", mi->index));
}

void sk_service_gen_header(sk_ctx *ctx, sk_printer *h, const sk_service_info *svc,
                           sk_names *names) {
  sk_vars v = {0};
  sk_vars_set(ctx, &v, "T", svc->type_prefix);
  sk_vars_set(ctx, &v, "lower", svc->lower);
  sk_vars_set(ctx, &v, "full", svc->full_name);
  sk_print(h, &v, "/* ==== service $full$ ==== */\n\n");

  if (svc->n_methods > 0) {
    sk_print(h, &v, "/* Index of each method in $lower$__shimkit_service.methods (sorted by path). */\n"
                    "enum {\n");
    for (size_t i = 0; i < svc->n_methods; i++) {
      const sk_method_info *mi = svc->sorted[i];
      method_vars(ctx, &v, svc, mi);
      sk_print(h, &v, "  $UPPER$__SHIMKIT_$METHOD$ = $index$,\n");
      sk_names_add(ctx, names, sk_printf(ctx, "%s__SHIMKIT_%s", svc->upper, mi->upper));
    }
    sk_print(h, &v, "};\n\n");
  }

  sk_print(h, &v,
           "/*\n"
           " * The implementation of $full$: one member per RPC, in declaration\n"
           " * order. A NULL member answers UNIMPLEMENTED. Unary and client-streaming\n"
           " * handlers get *response already initialised, to fill.\n"
           " */\n"
           "typedef struct $T$_Handlers {\n");
  sk_names_add(ctx, names, sk_printf(ctx, "%s_Handlers", svc->type_prefix));
  if (svc->n_methods == 0) sk_print(h, &v, "  void *unused_; /* the service has no methods */\n");
  for (size_t i = 0; i < svc->n_methods; i++) {
    const sk_method_info *mi = &svc->methods[i];
    method_vars(ctx, &v, svc, mi);
    if (!mi->client_streaming && !mi->server_streaming) {
      sk_print(h, &v,
               "  /* rpc $name$: unary */\n"
               "  shimkit_code (*$member$)(shimkit_call *call, const $In$ *request, $Out$ *response,\n"
               "      void *user_data);\n");
    } else if (!mi->client_streaming) {
      sk_print(h, &v,
               "  /* rpc $name$: server streaming; write replies with $lower$__shimkit_$snake$_write() */\n"
               "  shimkit_code (*$member$)(shimkit_call *call, const $In$ *request, void *user_data);\n");
    } else if (!mi->server_streaming) {
      sk_print(h, &v,
               "  /* rpc $name$: client streaming; read requests with $lower$__shimkit_$snake$_read() until it returns 0 */\n"
               "  shimkit_code (*$member$)(shimkit_call *call, $Out$ *response, void *user_data);\n");
    } else {
      sk_print(h, &v,
               "  /* rpc $name$: bidi streaming; $lower$__shimkit_$snake$_read() and _write() */\n"
               "  shimkit_code (*$member$)(shimkit_call *call, void *user_data);\n");
    }
  }
  sk_print(h, &v, "} $T$_Handlers;\n\n");

  sk_print(h, &v,
           "/* The tables of $full$ (methods sorted by path, file descriptors). */\n"
           "extern const shimkit_service_desc $lower$__shimkit_service;\n\n"
           "/*\n"
           " * Binds an implementation of $full$ to a server (before it starts):\n"
           " * handlers is kept by pointer and must outlive the server; user_data is\n"
           " * passed to every handler. Returns shimkit_server_add_service()'s code.\n"
           " */\n"
           "shimkit_code $lower$__shimkit_register(shimkit_server *server,\n"
           "    const $T$_Handlers *handlers, void *user_data);\n\n");
  sk_names_add(ctx, names, sk_printf(ctx, "%s__shimkit_service", svc->lower));
  sk_names_add(ctx, names, sk_printf(ctx, "%s__shimkit_register", svc->lower));
  sk_names_add(ctx, names, sk_printf(ctx, "%s__shimkit_methods", svc->lower));

  for (size_t i = 0; i < svc->n_methods; i++) {
    const sk_method_info *mi = &svc->methods[i];
    method_vars(ctx, &v, svc, mi);
    sk_names_add(ctx, names, sk_printf(ctx, "%s__shimkit_%s_invoke", svc->lower, mi->snake));
    if (mi->client_streaming) {
      sk_print(h, &v,
               "/* $name$ handler: next request; 1 and *request (owned by the call, valid\n"
               " * until the next read), 0 when the client finished, -1 on error. */\n"
               "static inline int $lower$__shimkit_$snake$_read(shimkit_call *call, $In$ **request) {\n"
               "  ProtobufCMessage *message = NULL;\n"
               "  int rc = shimkit_call_read(call, &message);\n"
               "  *request = rc == 1 ? ($In$ *)message : NULL;\n"
               "  return rc;\n"
               "}\n\n");
      sk_names_add(ctx, names, sk_printf(ctx, "%s__shimkit_%s_read", svc->lower, mi->snake));
    }
    if (mi->server_streaming) {
      sk_print(h, &v,
               "/* $name$ handler: sends one reply; 0, or -1 when the client is gone. */\n"
               "static inline int $lower$__shimkit_$snake$_write(shimkit_call *call, const $Out$ *reply) {\n"
               "  return shimkit_call_write(call, (const ProtobufCMessage *)reply);\n"
               "}\n\n");
      sk_names_add(ctx, names, sk_printf(ctx, "%s__shimkit_%s_write", svc->lower, mi->snake));
    }
  }
}

void sk_service_gen_source(sk_ctx *ctx, sk_printer *c, const sk_service_info *svc,
                           const char *blobs_name, size_t n_blobs, const char *file_name) {
  sk_vars v = {0};
  sk_vars_set(ctx, &v, "T", svc->type_prefix);
  sk_vars_set(ctx, &v, "lower", svc->lower);
  sk_vars_set(ctx, &v, "full", svc->full_name);
  sk_vars_set(ctx, &v, "full_lit", sk_c_literal(ctx, svc->full_name));
  sk_vars_set(ctx, &v, "file_lit", sk_c_literal(ctx, file_name));
  sk_vars_set(ctx, &v, "blobs", blobs_name);
  sk_vars_set(ctx, &v, "n_blobs", sk_printf(ctx, "%zu", n_blobs));
  sk_vars_set(ctx, &v, "n", sk_printf(ctx, "%zu", svc->n_methods));
  sk_print(c, &v, "/* ==== service $full$ ==== */\n\n");

  for (size_t i = 0; i < svc->n_methods; i++) {
    const sk_method_info *mi = &svc->methods[i];
    method_vars(ctx, &v, svc, mi);
    sk_print(c, &v,
             "static shimkit_code $lower$__shimkit_$snake$_invoke(const void *handlers,\n"
             "    shimkit_call *call, const ProtobufCMessage *request, ProtobufCMessage *response,\n"
             "    void *user_data) {\n"
             "  const $T$_Handlers *h = (const $T$_Handlers *)handlers;\n");
    if (mi->client_streaming) sk_print(c, &v, "  (void)request;\n");
    if (mi->server_streaming) sk_print(c, &v, "  (void)response;\n");
    sk_print(c, &v, "  if (h == NULL || h->$member$ == NULL) return SHIMKIT_UNIMPLEMENTED;\n");
    if (!mi->client_streaming && !mi->server_streaming) {
      sk_print(c, &v,
               "  return h->$member$(call, (const $In$ *)request, ($Out$ *)response, user_data);\n");
    } else if (!mi->client_streaming) {
      sk_print(c, &v, "  return h->$member$(call, (const $In$ *)request, user_data);\n");
    } else if (!mi->server_streaming) {
      sk_print(c, &v, "  return h->$member$(call, ($Out$ *)response, user_data);\n");
    } else {
      sk_print(c, &v, "  return h->$member$(call, user_data);\n");
    }
    sk_print(c, &v, "}\n\n");
  }

  if (svc->n_methods > 0) {
    sk_print(c, &v, "static const shimkit_method_desc $lower$__shimkit_methods[$n$] = {\n");
    for (size_t i = 0; i < svc->n_methods; i++) {
      const sk_method_info *mi = svc->sorted[i];
      method_vars(ctx, &v, svc, mi);
      sk_vars_set(ctx, &v, "path_lit", sk_c_literal(ctx, mi->path));
      sk_vars_set(ctx, &v, "name_lit", sk_c_literal(ctx, mi->name));
      sk_print(c, &v,
               "  {$path_lit$, $name_lit$, $kind$,\n"
               "   &$in_desc$, &$out_desc$,\n"
               "   $lower$__shimkit_$snake$_invoke},\n");
    }
    sk_print(c, &v, "};\n\n");
  }
  sk_vars_set(ctx, &v, "methods", svc->n_methods > 0 ? sk_printf(ctx, "%s__shimkit_methods", svc->lower) : "NULL");
  sk_print(c, &v,
           "const shimkit_service_desc $lower$__shimkit_service = {\n"
           "  .abi_version = 1,\n"
           "  .full_name = $full_lit$,\n"
           "  .file_name = $file_lit$,\n"
           "  .n_methods = $n$,\n"
           "  .methods = $methods$,\n"
           "  .n_files = $n_blobs$,\n"
           "  .files = $blobs$,\n"
           "};\n\n"
           "shimkit_code $lower$__shimkit_register(shimkit_server *server,\n"
           "    const $T$_Handlers *handlers, void *user_data) {\n"
           "  return shimkit_server_add_service(server, &$lower$__shimkit_service, handlers, user_data);\n"
           "}\n\n");
}
