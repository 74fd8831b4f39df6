/*
 * descriptor_blob.c - the serialized FileDescriptorProtos a service carries.
 *
 * Reflection (and later JSON and request routing) needs the descriptors of
 * a service's file and of everything it imports, transitively, in an order
 * where every file comes after its dependencies. protoc already sends all of
 * them in the request's proto_file; this file orders them, drops
 * source_code_info (comments and spans: large, and no use at run time) and
 * prints each as a static byte array.
 */
#include <string.h>

#include "codegen.h"

#define SK_MAX_IMPORT_DEPTH 256u

typedef struct blob_order {
  const sk_request *r;
  unsigned char *state;   /* per proto_file: 0 new, 1 in progress, 2 done */
  const sk_file **files;  /* result, dependencies first */
  size_t n;
} blob_order;

static size_t index_of(const sk_request *r, const sk_file *f) {
  for (size_t i = 0; i < r->req->n_proto_file; i++) {
    if (r->req->proto_file[i] == f) return i;
  }
  return SIZE_MAX;
}

static void visit(sk_ctx *ctx, blob_order *o, const sk_file *f, unsigned depth) {
  if (depth > SK_MAX_IMPORT_DEPTH) sk_fail(ctx, "%s: imports nested too deeply", f->name);
  size_t i = index_of(o->r, f);
  if (o->state[i] == 2) return;
  if (o->state[i] == 1) sk_fail(ctx, "%s: import cycle", f->name);
  o->state[i] = 1;
  for (size_t d = 0; d < f->n_dependency; d++) {
    const sk_file *dep = sk_find_file(o->r, f->dependency[d] != NULL ? f->dependency[d] : "");
    if (dep == NULL)
      sk_fail(ctx, "%s imports %s, which is not among proto_file", f->name,
              sk_c_literal(ctx, f->dependency[d] != NULL ? f->dependency[d] : ""));
    visit(ctx, o, dep, depth + 1);
  }
  o->state[i] = 2;
  o->files[o->n++] = f;
}

size_t sk_emit_blobs(sk_ctx *ctx, sk_printer *c, const sk_request *r, const sk_file *file,
                     const char *array_name) {
  size_t total = r->req->n_proto_file;
  blob_order o = {.r = r, .state = sk_alloc(ctx, total), .files = NULL, .n = 0};
  o.files = sk_alloc(ctx, total * sizeof *o.files);
  visit(ctx, &o, file, 0);

  sk_vars v = {0};
  for (size_t i = 0; i < o.n; i++) {
    Google__Protobuf__FileDescriptorProto copy = *o.files[i];
    copy.source_code_info = NULL;
    size_t len = protobuf_c_message_get_packed_size(&copy.base);
    uint8_t *bytes = sk_alloc(ctx, len > 0 ? len : 1);
    protobuf_c_message_pack(&copy.base, bytes);
    sk_vars_set(ctx, &v, "array", array_name);
    sk_vars_set(ctx, &v, "i", sk_printf(ctx, "%zu", i));
    sk_vars_set(ctx, &v, "len", sk_printf(ctx, "%zu", len > 0 ? len : 1));
    sk_vars_set(ctx, &v, "name", sk_comment_text(ctx, o.files[i]->name));
    sk_print(c, &v, "/* $name$ */\nstatic const uint8_t $array$_$i$[$len$] = {");
    for (size_t b = 0; b < len; b++) {
      char hex[8];
      int n = 0;
      hex[n++] = b % 12 == 0 ? '\n' : ' ';
      if (b % 12 == 0) {
        hex[n++] = ' ';
        hex[n++] = ' ';
      }
      static const char digits[] = "0123456789abcdef";
      hex[n++] = '0';
      hex[n++] = 'x';
      hex[n++] = digits[bytes[b] >> 4];
      hex[n++] = digits[bytes[b] & 15];
      sk_write(c, hex, (size_t)n);
      if (b + 1 < len) sk_write(c, ",", 1);
    }
    if (len == 0) sk_write(c, "0", 1);
    sk_write(c, "\n};\n\n", 5);
  }
  sk_vars_set(ctx, &v, "n", sk_printf(ctx, "%zu", o.n));
  sk_print(c, &v,
           "/* The files of this .proto and its imports, dependencies first. */\n"
           "static const shimkit_file_blob $array$[$n$] = {\n");
  for (size_t i = 0; i < o.n; i++) {
    Google__Protobuf__FileDescriptorProto copy = *o.files[i];
    copy.source_code_info = NULL;
    size_t len = protobuf_c_message_get_packed_size(&copy.base);
    sk_vars_set(ctx, &v, "i", sk_printf(ctx, "%zu", i));
    sk_vars_set(ctx, &v, "len", sk_printf(ctx, "%zu", len));
    sk_vars_set(ctx, &v, "name", sk_c_literal(ctx, o.files[i]->name));
    sk_print(c, &v, "  {$name$, $array$_$i$, $len$},\n");
  }
  sk_print(c, &v, "};\n\n");
  return o.n;
}
