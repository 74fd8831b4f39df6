/*
 * plugin.c - one CodeGeneratorRequest in, one CodeGeneratorResponse out.
 *
 * This is the whole generator minus the stdin/stdout plumbing (main.c), so
 * tests can drive it in-process with hostile bytes. The request is untrusted:
 * it is decoded by protobuf-c, every name that ends up in C text is checked,
 * and every problem with its content becomes CodeGeneratorResponse.error
 * (protoc prints it and fails) rather than a crash or broken C.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

/* ---- request index ---------------------------------------------------------- */

const sk_file *sk_find_file(const sk_request *r, const char *name) {
  for (size_t i = 0; i < r->req->n_proto_file; i++) {
    const sk_file *f = r->req->proto_file[i];
    if (f->name != NULL && strcmp(f->name, name) == 0) return f;
  }
  return NULL;
}

typedef struct type_list {
  sk_type *items;
  size_t n, cap;
} type_list;

static void add_type(sk_ctx *ctx, type_list *l, const char *full_name, const sk_file *file) {
  if (l->n == l->cap) {
    size_t cap = l->cap == 0 ? 64 : l->cap * 2;
    sk_type *items = sk_alloc(ctx, cap * sizeof *items);
    if (l->n > 0) memcpy(items, l->items, l->n * sizeof *items);
    l->items = items;
    l->cap = cap;
  }
  l->items[l->n].full_name = full_name;
  l->items[l->n].file = file;
  l->n++;
}

static void index_messages(sk_ctx *ctx, type_list *l, const sk_file *file, const char *scope,
                           sk_message *const *msgs, size_t n, unsigned depth) {
  if (depth > SK_MAX_DEPTH) sk_fail(ctx, "%s: messages nested too deeply", file->name);
  for (size_t i = 0; i < n; i++) {
    const sk_message *m = msgs[i];
    sk_check_ident(ctx, "message", m->name);
    const char *full = scope[0] != '\0' ? sk_printf(ctx, "%s.%s", scope, m->name) : m->name;
    add_type(ctx, l, full, file);
    index_messages(ctx, l, file, full, m->nested_type, m->n_nested_type, depth + 1);
  }
}

static int cmp_type(const void *a, const void *b) {
  return strcmp(((const sk_type *)a)->full_name, ((const sk_type *)b)->full_name);
}

static void check_file_name(sk_ctx *ctx, const char *name) {
  if (name == NULL || name[0] == '\0') sk_fail(ctx, "a proto_file has no name");
  size_t n = strlen(name);
  if (n > SK_MAX_NAME_LEN) sk_fail(ctx, "file name too long");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
      sk_fail(ctx, "file name %s has characters that cannot appear in an #include",
              sk_c_literal(ctx, name));
  }
  if (name[0] == '/' || strstr(name, "..") != NULL)
    sk_fail(ctx, "file name %s is absolute or leaves the output directory",
            sk_c_literal(ctx, name));
}

static void build_index(sk_ctx *ctx, sk_request *r) {
  type_list l = {0};
  for (size_t i = 0; i < r->req->n_proto_file; i++) {
    const sk_file *f = r->req->proto_file[i];
    check_file_name(ctx, f->name);
    const char *pkg = f->package != NULL ? f->package : "";
    if (pkg[0] != '\0') sk_check_dotted(ctx, "package", pkg);
    index_messages(ctx, &l, f, pkg, f->message_type, f->n_message_type, 0);
  }
  if (l.n > 0) qsort(l.items, l.n, sizeof *l.items, cmp_type);
  r->types = l.items;
  r->n_types = l.n;
}

const sk_type *sk_find_type(sk_ctx *ctx, const sk_request *r, const char *name) {
  sk_check_dotted(ctx, "type", name);
  sk_type key = {.full_name = name[0] == '.' ? name + 1 : name, .file = NULL};
  const sk_type *t = NULL;
  if (r->n_types > 0) t = bsearch(&key, r->types, r->n_types, sizeof key, cmp_type);
  if (t == NULL) sk_fail(ctx, "message type %s is not declared in any proto_file", name);
  return t;
}

/* ---- generated names registry ------------------------------------------------ */

void sk_names_add(sk_ctx *ctx, sk_names *names, const char *name) {
  if (names->n == names->cap) {
    size_t cap = names->cap == 0 ? 64 : names->cap * 2;
    const char **v = sk_alloc(ctx, cap * sizeof *v);
    if (names->n > 0) memcpy(v, names->name, names->n * sizeof *v);
    names->name = v;
    names->cap = cap;
  }
  names->name[names->n++] = name;
}

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void sk_names_check(sk_ctx *ctx, sk_names *names, const char *file_name) {
  if (names->n < 2) return;
  qsort(names->name, names->n, sizeof names->name[0], cmp_cstr);
  for (size_t i = 1; i < names->n; i++) {
    if (strcmp(names->name[i - 1], names->name[i]) == 0)
      sk_fail(ctx, "%s: two generated C names are both %s; rename a service or method",
              file_name, names->name[i]);
  }
}

/* ---- run ------------------------------------------------------------------------ */

typedef Google__Protobuf__Compiler__CodeGeneratorResponse sk_response;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse__File sk_response_file;

static void generate(sk_ctx *ctx, sk_request *r, sk_response *resp) {
  const Google__Protobuf__Compiler__CodeGeneratorRequest *req = r->req;
  if (req->parameter != NULL && req->parameter[0] != '\0')
    sk_fail(ctx, "protoc-gen-shimkit takes no parameters (got %s)",
            sk_c_literal(ctx, strlen(req->parameter) > 200 ? "(long)" : req->parameter));
  build_index(ctx, r);
  size_t n = req->n_file_to_generate;
  if (n > SIZE_MAX / 4 / sizeof(sk_response_file)) sk_fail(ctx, "too many files");
  sk_response_file *files = sk_alloc(ctx, 2 * n * sizeof *files);
  sk_response_file **ptrs = sk_alloc(ctx, 2 * n * sizeof *ptrs);
  for (size_t i = 0; i < n; i++) {
    const char *name = req->file_to_generate[i];
    check_file_name(ctx, name);
    const sk_file *file = sk_find_file(r, name);
    if (file == NULL) sk_fail(ctx, "file_to_generate %s is not among proto_file", name);
    sk_printer h, c;
    sk_printer_init(&h, ctx);
    sk_printer_init(&c, ctx);
    sk_file_gen(ctx, r, file, &h, &c);
    const char *base = sk_strip_proto(ctx, name);
    for (size_t k = 0; k < 2; k++) {
      sk_response_file *f = &files[2 * i + k];
      google__protobuf__compiler__code_generator_response__file__init(f);
      f->name = sk_printf(ctx, "%s.shimkit.%s", base, k == 0 ? "h" : "c");
      f->content = k == 0 ? h.buf : c.buf;
      ptrs[2 * i + k] = f;
    }
  }
  resp->n_file = 2 * n;
  resp->file = ptrs;
}

/* The setjmp lives here, away from sk_run()'s locals, so those keep their
 * values when a failure unwinds (C11 7.13.2.1p3). */
static int guarded_generate(sk_ctx *ctx, sk_request *r, sk_response *resp) {
  if (setjmp(ctx->fail) != 0) return -1;
  generate(ctx, r, resp);
  return 0;
}

int sk_run(const uint8_t *in, size_t in_len, uint8_t **out, size_t *out_len, char *err,
           size_t err_size) {
  *out = NULL;
  *out_len = 0;
  if (in_len > SK_MAX_INPUT_BYTES) {
    snprintf(err, err_size, "request larger than %u bytes", SK_MAX_INPUT_BYTES);
    return -1;
  }
  Google__Protobuf__Compiler__CodeGeneratorRequest *req =
      google__protobuf__compiler__code_generator_request__unpack(NULL, in_len, in);
  if (req == NULL) {
    snprintf(err, err_size, "stdin is not a CodeGeneratorRequest (protobuf decoding failed); "
                            "protoc-gen-shimkit is meant to be run by protoc");
    return -1;
  }
  sk_ctx ctx;
  sk_ctx_init(&ctx);
  sk_request r = {.req = req, .types = NULL, .n_types = 0};
  sk_response resp;
  google__protobuf__compiler__code_generator_response__init(&resp);
  resp.has_supported_features = 1;
  resp.supported_features =
      GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__FEATURE__FEATURE_PROTO3_OPTIONAL;
  if (guarded_generate(&ctx, &r, &resp) != 0) {
    resp.n_file = 0;
    resp.file = NULL;
    resp.error = ctx.error;
  }
  int rc = 0;
  size_t size = google__protobuf__compiler__code_generator_response__get_packed_size(&resp);
  uint8_t *buf = malloc(size > 0 ? size : 1);
  if (buf == NULL) {
    snprintf(err, err_size, "out of memory");
    rc = -1;
  } else {
    *out_len = google__protobuf__compiler__code_generator_response__pack(&resp, buf);
    *out = buf;
  }
  sk_ctx_release(&ctx);
  google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
  return rc;
}
