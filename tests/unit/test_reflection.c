/*
 * test_reflection.c - the reflection symbol index (reflection_index.c)
 * against descriptor blobs, then grpc.reflection v1 and v1alpha over the
 * wire against a real in-process server.
 *
 * Besides the runtime's own generated blobs (health, reflection), the tests
 * build FileDescriptorProtos by hand so every kind of symbol, transitive and
 * missing dependencies, an import cycle and an undecodable blob are covered:
 *   c.proto (package u): message Leaf
 *   b.proto (package t, imports c): message Base
 *   a.proto (package t, imports b): Outer{x, oneof choice, Inner{Deep, enum
 *           Color{RED,GREEN}}, extension ext_nested=101 on t.Base}, enum
 *           Top{TOP_A}, service Svc{Do}, extension ext_top=100 on t.Base
 *   d.proto imports c.proto and missing.proto
 *   cyc1.proto <-> cyc2.proto import each other; bad.proto is not a descriptor
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "grpc/health/v1/health.shimkit.h"
#include "grpc/reflection/v1/reflection.shimkit.h"
#include "grpc/reflection/v1alpha/reflection.shimkit.h"
#include "reflection.h"
#include "shimkit/shimkit.h"

typedef Google__Protobuf__FileDescriptorProto FileProto;
typedef Google__Protobuf__DescriptorProto MsgProto;
typedef Google__Protobuf__FieldDescriptorProto FieldProto;
typedef Google__Protobuf__EnumDescriptorProto EnumProto;
typedef Google__Protobuf__EnumValueDescriptorProto EnumValueProto;

/* ---- hand-made descriptor blobs -------------------------------------------------- */

enum { F_A, F_B, F_C, F_D, F_CYC1, F_CYC2, F_BAD, N_FILES };
static shimkit_file_blob blobs[N_FILES];

static void pack_into(shimkit_file_blob *blob, const FileProto *fd) {
  size_t n = google__protobuf__file_descriptor_proto__get_packed_size(fd);
  uint8_t *buf = malloc(n);
  google__protobuf__file_descriptor_proto__pack(fd, buf);
  blob->name = fd->name;
  blob->data = buf;
  blob->len = n;
}

static FieldProto field(const char *name, int32_t number, const char *extendee) {
  FieldProto f = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT;
  f.name = (char *)name;
  f.has_number = 1;
  f.number = number;
  f.extendee = (char *)extendee;
  return f;
}

static void make_blobs(void) {
  /* c.proto */
  MsgProto leaf = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
  leaf.name = (char *)"Leaf";
  MsgProto *c_msgs[] = {&leaf};
  FileProto c = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  c.name = (char *)"c.proto";
  c.package = (char *)"u";
  c.n_message_type = 1;
  c.message_type = c_msgs;
  pack_into(&blobs[F_C], &c);

  /* b.proto */
  MsgProto base = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
  base.name = (char *)"Base";
  MsgProto *b_msgs[] = {&base};
  char *b_deps[] = {(char *)"c.proto"};
  FileProto b = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  b.name = (char *)"b.proto";
  b.package = (char *)"t";
  b.n_dependency = 1;
  b.dependency = b_deps;
  b.n_message_type = 1;
  b.message_type = b_msgs;
  pack_into(&blobs[F_B], &b);

  /* a.proto */
  MsgProto deep = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
  deep.name = (char *)"Deep";
  EnumValueProto red = GOOGLE__PROTOBUF__ENUM_VALUE_DESCRIPTOR_PROTO__INIT;
  red.name = (char *)"RED";
  EnumValueProto green = GOOGLE__PROTOBUF__ENUM_VALUE_DESCRIPTOR_PROTO__INIT;
  green.name = (char *)"GREEN";
  EnumValueProto *colors[] = {&red, &green};
  EnumProto color = GOOGLE__PROTOBUF__ENUM_DESCRIPTOR_PROTO__INIT;
  color.name = (char *)"Color";
  color.n_value = 2;
  color.value = colors;
  EnumProto *inner_enums[] = {&color};
  MsgProto *inner_nested[] = {&deep};
  MsgProto inner = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
  inner.name = (char *)"Inner";
  inner.n_nested_type = 1;
  inner.nested_type = inner_nested;
  inner.n_enum_type = 1;
  inner.enum_type = inner_enums;
  FieldProto x = field("x", 1, NULL);
  FieldProto *outer_fields[] = {&x};
  FieldProto ext_nested = field("ext_nested", 101, ".t.Base");
  FieldProto *outer_exts[] = {&ext_nested};
  Google__Protobuf__OneofDescriptorProto choice = GOOGLE__PROTOBUF__ONEOF_DESCRIPTOR_PROTO__INIT;
  choice.name = (char *)"choice";
  Google__Protobuf__OneofDescriptorProto *oneofs[] = {&choice};
  MsgProto *outer_nested[] = {&inner};
  MsgProto outer = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
  outer.name = (char *)"Outer";
  outer.n_field = 1;
  outer.field = outer_fields;
  outer.n_extension = 1;
  outer.extension = outer_exts;
  outer.n_oneof_decl = 1;
  outer.oneof_decl = oneofs;
  outer.n_nested_type = 1;
  outer.nested_type = outer_nested;
  MsgProto *a_msgs[] = {&outer};
  EnumValueProto top_a = GOOGLE__PROTOBUF__ENUM_VALUE_DESCRIPTOR_PROTO__INIT;
  top_a.name = (char *)"TOP_A";
  EnumValueProto *top_values[] = {&top_a};
  EnumProto top = GOOGLE__PROTOBUF__ENUM_DESCRIPTOR_PROTO__INIT;
  top.name = (char *)"Top";
  top.n_value = 1;
  top.value = top_values;
  EnumProto *a_enums[] = {&top};
  Google__Protobuf__MethodDescriptorProto method = GOOGLE__PROTOBUF__METHOD_DESCRIPTOR_PROTO__INIT;
  method.name = (char *)"Do";
  method.input_type = (char *)".t.Outer";
  method.output_type = (char *)".t.Outer";
  Google__Protobuf__MethodDescriptorProto *methods[] = {&method};
  Google__Protobuf__ServiceDescriptorProto svc = GOOGLE__PROTOBUF__SERVICE_DESCRIPTOR_PROTO__INIT;
  svc.name = (char *)"Svc";
  svc.n_method = 1;
  svc.method = methods;
  Google__Protobuf__ServiceDescriptorProto *svcs[] = {&svc};
  FieldProto ext_top = field("ext_top", 100, ".t.Base");
  FieldProto *a_exts[] = {&ext_top};
  char *a_deps[] = {(char *)"b.proto"};
  FileProto a = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  a.name = (char *)"a.proto";
  a.package = (char *)"t";
  a.n_dependency = 1;
  a.dependency = a_deps;
  a.n_message_type = 1;
  a.message_type = a_msgs;
  a.n_enum_type = 1;
  a.enum_type = a_enums;
  a.n_service = 1;
  a.service = svcs;
  a.n_extension = 1;
  a.extension = a_exts;
  pack_into(&blobs[F_A], &a);

  /* d.proto: one import present, one missing */
  char *d_deps[] = {(char *)"c.proto", (char *)"missing.proto"};
  FileProto d = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  d.name = (char *)"d.proto";
  d.n_dependency = 2;
  d.dependency = d_deps;
  pack_into(&blobs[F_D], &d);

  /* an import cycle */
  char *cyc1_deps[] = {(char *)"cyc2.proto"};
  char *cyc2_deps[] = {(char *)"cyc1.proto"};
  FileProto cyc1 = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  cyc1.name = (char *)"cyc1.proto";
  cyc1.n_dependency = 1;
  cyc1.dependency = cyc1_deps;
  pack_into(&blobs[F_CYC1], &cyc1);
  FileProto cyc2 = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  cyc2.name = (char *)"cyc2.proto";
  cyc2.n_dependency = 1;
  cyc2.dependency = cyc2_deps;
  pack_into(&blobs[F_CYC2], &cyc2);

  /* not a descriptor at all (a truncated varint) */
  static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff};
  blobs[F_BAD].name = "bad.proto";
  blobs[F_BAD].data = garbage;
  blobs[F_BAD].len = sizeof garbage;
}

static void free_blobs(void) {
  for (int i = 0; i < N_FILES; i++) {
    if (i != F_BAD) {
      free((void *)blobs[i].data);
    }
  }
}

/* Three services whose file tables overlap, as generated code's do. */
static shimkit_file_blob svc1_files[3], svc2_files[2], svc3_files[3];

static shimkit_code unimplemented(const void *h, shimkit_call *call, const ProtobufCMessage *req,
                                  ProtobufCMessage *resp, void *ud) {
  (void)h, (void)call, (void)req, (void)resp, (void)ud;
  return SHIMKIT_UNIMPLEMENTED;
}
static const shimkit_method_desc t_methods[] = {{"/t.Svc/Do", "Do", SHIMKIT_METHOD_UNARY,
                                                 &google__protobuf__string_value__descriptor,
                                                 &google__protobuf__string_value__descriptor, unimplemented}};
static shimkit_service_desc svc1 = {SHIMKIT_ABI_VERSION, "t.Svc", "a.proto", 1, t_methods, 3, svc1_files};
static shimkit_service_desc svc2 = {SHIMKIT_ABI_VERSION, "d.Svc", "d.proto", 0, NULL, 2, svc2_files};
static shimkit_service_desc svc3 = {SHIMKIT_ABI_VERSION, "cyc.Svc", "cyc1.proto", 0, NULL, 3, svc3_files};

static int group_setup(void **state) {
  (void)state;
  make_blobs();
  svc1_files[0] = blobs[F_C];
  svc1_files[1] = blobs[F_B];
  svc1_files[2] = blobs[F_A];
  svc2_files[0] = blobs[F_C]; /* same bytes under the same name: one file */
  svc2_files[1] = blobs[F_D];
  svc3_files[0] = blobs[F_CYC2];
  svc3_files[1] = blobs[F_CYC1];
  svc3_files[2] = blobs[F_BAD];
  shimkit_log_set_level(SHIMKIT_LOG_OFF);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  free_blobs();
  return 0;
}

static shimkit__refl_files *hand_made_set(void) {
  const shimkit_service_desc *svcs[] = {&svc1, &svc2, NULL, &svc3};
  shimkit__refl_files *set = shimkit__refl_files_new(svcs, 4);
  assert_non_null(set);
  return set;
}

static const char *file_of(const shimkit__refl_files *set, const char *symbol) {
  const shimkit_file_blob *b = shimkit__refl_find_symbol(set, symbol);
  return b != NULL ? b->name : NULL;
}

/* ---- the index ------------------------------------------------------------------- */

static void test_index_symbols(void **state) {
  (void)state;
  shimkit__refl_files *set = hand_made_set();
  assert_int_equal(shimkit__refl_files_count(set), 7); /* a b c d cyc1 cyc2 bad */
  const char *in_a[] = {"t.Outer",
                        ".t.Outer",
                        "t.Outer.x",
                        "t.Outer.choice",
                        "t.Outer.Inner",
                        "t.Outer.Inner.Deep",
                        "t.Outer.Inner.Color",
                        "t.Outer.Inner.RED",
                        "t.Outer.Inner.GREEN",
                        "t.Outer.ext_nested",
                        "t.Top",
                        "t.TOP_A",
                        "t.Svc",
                        "t.Svc.Do",
                        "t.ext_top"};
  for (size_t i = 0; i < sizeof in_a / sizeof in_a[0]; i++) {
    const char *f = file_of(set, in_a[i]);
    if (f == NULL || strcmp(f, "a.proto") != 0) {
      fail_msg("%s: expected a.proto, got %s", in_a[i], f != NULL ? f : "nothing");
    }
  }
  assert_string_equal(file_of(set, "t.Base"), "b.proto");
  assert_string_equal(file_of(set, "u.Leaf"), "c.proto");
  assert_string_equal(file_of(set, "u"), "c.proto"); /* a package is a symbol */
  const char *nowhere[] = {"t.Nope",    "",           ".",       "t.",     "Outer", "t.Outer.Inner.Color.RED",
                           "t.Outer.y", "t.Svc.Undo", "u.Leaf.", "T.OUTER"};
  for (size_t i = 0; i < sizeof nowhere / sizeof nowhere[0]; i++) {
    if (file_of(set, nowhere[i]) != NULL) {
      fail_msg("%s: expected nothing, got %s", nowhere[i], file_of(set, nowhere[i]));
    }
  }
  assert_null(shimkit__refl_find_symbol(set, NULL));
  assert_null(shimkit__refl_find_symbol(NULL, "t.Outer"));
  shimkit__refl_files_free(set);
  shimkit__refl_files_free(NULL);
}

static void test_index_files_and_closure(void **state) {
  (void)state;
  shimkit__refl_files *set = hand_made_set();
  const shimkit_file_blob *a = shimkit__refl_find_file(set, "a.proto");
  assert_non_null(a);
  assert_null(shimkit__refl_find_file(set, "missing.proto"));
  assert_null(shimkit__refl_find_file(set, "A.proto"));

  const shimkit_file_blob *out[8];
  assert_int_equal(shimkit__refl_file_closure(set, a, out, 8), 3);
  assert_string_equal(out[0]->name, "a.proto"); /* the file first */
  assert_string_equal(out[1]->name, "b.proto");
  assert_string_equal(out[2]->name, "c.proto");
  assert_int_equal(shimkit__refl_file_closure(set, a, out, 1), 3); /* total, even when cut */
  assert_string_equal(out[0]->name, "a.proto");

  /* A missing import is left out; an import cycle ends. */
  assert_int_equal(shimkit__refl_file_closure(set, shimkit__refl_find_file(set, "d.proto"), out, 8), 2);
  assert_string_equal(out[1]->name, "c.proto");
  assert_int_equal(shimkit__refl_file_closure(set, shimkit__refl_find_file(set, "cyc1.proto"), out, 8), 2);
  assert_string_equal(out[0]->name, "cyc1.proto");
  assert_string_equal(out[1]->name, "cyc2.proto");
  /* An undecodable blob is served as it is, on its own. */
  assert_int_equal(shimkit__refl_file_closure(set, shimkit__refl_find_file(set, "bad.proto"), out, 8), 1);
  assert_int_equal(shimkit__refl_file_closure(set, NULL, out, 8), 0);
  shimkit__refl_files_free(set);
}

static void test_index_extensions(void **state) {
  (void)state;
  shimkit__refl_files *set = hand_made_set();
  const shimkit_file_blob *f = shimkit__refl_find_extension(set, "t.Base", 100);
  assert_non_null(f);
  assert_string_equal(f->name, "a.proto");
  assert_non_null(shimkit__refl_find_extension(set, ".t.Base", 101));
  assert_null(shimkit__refl_find_extension(set, "t.Base", 102));
  assert_null(shimkit__refl_find_extension(set, "u.Leaf", 100));
  int32_t nums[4] = {0};
  assert_int_equal(shimkit__refl_extension_numbers(set, "t.Base", nums, 4), 2);
  assert_true((nums[0] == 100 && nums[1] == 101) || (nums[0] == 101 && nums[1] == 100));
  assert_int_equal(shimkit__refl_extension_numbers(set, "t.Base", nums, 1), 2);
  assert_int_equal(shimkit__refl_extension_numbers(set, "u.Leaf", nums, 4), 0);
  assert_int_equal(shimkit__refl_extension_numbers(set, "no.Such", nums, 4), -1);
  shimkit__refl_files_free(set);
}

static void test_index_generated_blobs(void **state) {
  (void)state;
  const shimkit_service_desc *svcs[] = {&grpc__health__v1__health__shimkit_service,
                                        &grpc__reflection__v1__server_reflection__shimkit_service,
                                        &grpc__reflection__v1alpha__server_reflection__shimkit_service};
  shimkit__refl_files *set = shimkit__refl_files_new(svcs, 3);
  assert_non_null(set);
  assert_string_equal(file_of(set, "grpc.health.v1.Health"), "grpc/health/v1/health.proto");
  assert_string_equal(file_of(set, "grpc.health.v1.Health.Watch"), "grpc/health/v1/health.proto");
  assert_string_equal(file_of(set, "grpc.health.v1.HealthCheckResponse.ServingStatus"),
                      "grpc/health/v1/health.proto");
  assert_string_equal(file_of(set, "grpc.health.v1.HealthCheckResponse.SERVICE_UNKNOWN"),
                      "grpc/health/v1/health.proto");
  assert_string_equal(file_of(set, "grpc.reflection.v1.ServerReflectionRequest"),
                      "grpc/reflection/v1/reflection.proto");
  assert_string_equal(file_of(set, "grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo"),
                      "grpc/reflection/v1alpha/reflection.proto");
  shimkit__refl_files_free(set);
}

/* Every truncation and a sweep of corrupted bytes of real blobs: no crash, no leak. */
static void test_index_bad_blobs(void **state) {
  (void)state;
  const shimkit_file_blob *real[] = {&blobs[F_A], &grpc__health__v1__health__shimkit_service.files[0]};
  for (size_t r = 0; r < 2; r++) {
    const shimkit_file_blob *src = real[r];
    uint8_t *copy = malloc(src->len);
    for (size_t cut = 0; cut < src->len; cut++) {
      memcpy(copy, src->data, src->len);
      shimkit_file_blob b = {"fuzz.proto", copy, cut};
      shimkit_service_desc d = {SHIMKIT_ABI_VERSION, "f.S", "fuzz.proto", 0, NULL, 1, &b};
      const shimkit_service_desc *svcs[] = {&d};
      shimkit__refl_files *set = shimkit__refl_files_new(svcs, 1);
      assert_non_null(set);
      shimkit__refl_find_symbol(set, "t.Outer");
      const shimkit_file_blob *out[2];
      shimkit__refl_file_closure(set, &b, out, 2);
      shimkit__refl_files_free(set);
    }
    for (size_t i = 0; i < src->len; i += 7) { /* flip bytes, whole length */
      memcpy(copy, src->data, src->len);
      copy[i] ^= 0xa5;
      shimkit_file_blob b = {"flip.proto", copy, src->len};
      shimkit_service_desc d = {SHIMKIT_ABI_VERSION, "f.S", "flip.proto", 0, NULL, 1, &b};
      const shimkit_service_desc *svcs[] = {&d};
      shimkit__refl_files *set = shimkit__refl_files_new(svcs, 1);
      assert_non_null(set);
      shimkit__refl_find_symbol(set, "grpc.health.v1.Health");
      shimkit__refl_files_free(set);
    }
    free(copy);
  }
  /* No services at all. */
  shimkit__refl_files *empty = shimkit__refl_files_new(NULL, 0);
  assert_non_null(empty);
  assert_int_equal(shimkit__refl_files_count(empty), 0);
  assert_null(shimkit__refl_find_symbol(empty, "x"));
  shimkit__refl_files_free(empty);
}

/* ---- over the wire --------------------------------------------------------------- */

typedef Grpc__Reflection__V1__ServerReflectionRequest v1_request;
typedef Grpc__Reflection__V1__ServerReflectionResponse v1_response;
typedef Grpc__Reflection__V1__ExtensionRequest v1_extension;

struct fixture {
  shimkit_server *srv;
  shimkit_channel *ch;
};

/* A started server with svc1 (and fb, when given, as its reflection fallback) and a channel to it. */
static struct fixture *start_server(const shimkit_reflection_fallback *fb) {
  struct fixture *f = calloc(1, sizeof *f);
  shimkit_server_options o;
  shimkit_server_options_init(&o);
  o.worker_threads = 4;
  o.handle_signals = false;
  o.access_log = false;
  o.drain_grace_ms = 500;
  f->srv = shimkit_server_new(&o);
  assert_non_null(f->srv);
  assert_int_equal(shimkit_server_add_service(f->srv, &svc1, &svc1, NULL), SHIMKIT_OK);
  if (fb != NULL) {
    assert_int_equal(shimkit_server_set_reflection_fallback(f->srv, fb), SHIMKIT_OK);
  }
  int port = 0;
  assert_int_equal(shimkit_server_add_listener(f->srv, "127.0.0.1:0", NULL, &port), SHIMKIT_OK);
  assert_int_equal(shimkit_server_start(f->srv), SHIMKIT_OK);
  char target[64];
  snprintf(target, sizeof target, "127.0.0.1:%d", port);
  f->ch = shimkit_channel_new(target, NULL, 0);
  return f;
}

static int setup(void **state) {
  *state = start_server(NULL);
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  shimkit_channel_free(f->ch);
  shimkit_server_shutdown(f->srv);
  shimkit_server_wait(f->srv);
  shimkit_server_free(f->srv);
  free(f);
  return 0;
}

/* An open v1 ServerReflectionInfo stream on the fixture's channel. */
static shimkit_client_call *open_v1(const struct fixture *f) {
  shimkit_client_call *c =
      grpc__reflection__v1__server_reflection__shimkit_server_reflection_info_start(f->ch, NULL);
  assert_non_null(c);
  return c;
}

/* Half-closes the stream, expects its end and an OK status. */
static void close_v1(shimkit_client_call *c) {
  v1_response *resp = NULL;
  assert_int_equal(shimkit_client_call_close_send(c), 0);
  assert_int_equal(grpc__reflection__v1__server_reflection__shimkit_server_reflection_info_recv(c, &resp), 0);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_OK);
}

/* One request, one response on an open v1 stream; caller frees the response. */
static v1_response *ask(shimkit_client_call *c, const v1_request *req) {
  assert_int_equal(grpc__reflection__v1__server_reflection__shimkit_server_reflection_info_send(c, req), 0);
  v1_response *resp = NULL;
  assert_int_equal(grpc__reflection__v1__server_reflection__shimkit_server_reflection_info_recv(c, &resp), 1);
  assert_non_null(resp);
  return resp;
}

static void release(v1_response *resp) {
  protobuf_c_message_free_unpacked(&resp->base, NULL);
}

/* The error code of the error_response req gets. */
static int32_t ask_error(shimkit_client_call *c, const v1_request *req) {
  v1_response *resp = ask(c, req);
  assert_int_equal(resp->message_response_case,
                   GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
  int32_t code = resp->error_response->error_code;
  release(resp);
  return code;
}

/* ---- requests ---- */

/* host NULL: none. */
static v1_request list_request(const char *host, const char *services) {
  v1_request r = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  if (host != NULL) {
    r.host = (char *)host;
  }
  r.message_request_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
  r.list_services = (char *)services;
  return r;
}

static v1_request symbol_request(const char *symbol) {
  v1_request r = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  r.host = (char *)"myhost";
  r.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
  r.file_containing_symbol = (char *)symbol;
  return r;
}

static v1_request filename_request(const char *name) {
  v1_request r = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  r.message_request_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
  r.file_by_filename = (char *)name;
  return r;
}

/* ext (may be NULL) is borrowed by the request. */
static v1_request extension_request(v1_extension *ext) {
  v1_request r = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  r.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION;
  r.file_containing_extension = ext;
  return r;
}

static v1_extension extension(const char *containing_type, int32_t number) {
  v1_extension e = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
  e.containing_type = (char *)containing_type;
  e.extension_number = number;
  return e;
}

/* ---- answers ---- */

static bool has_service(const Grpc__Reflection__V1__ListServiceResponse *l, const char *name) {
  for (size_t i = 0; i < l->n_service; i++) {
    if (strcmp(l->service[i]->name, name) == 0) {
      return true;
    }
  }
  return false;
}

/* Name of the i-th FileDescriptorProto of a file response. */
static char *file_name_at(const v1_response *resp, size_t i) {
  assert_int_equal(
      resp->message_response_case,
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
  assert_true(i < resp->file_descriptor_response->n_file_descriptor_proto);
  ProtobufCBinaryData b = resp->file_descriptor_response->file_descriptor_proto[i];
  FileProto *fd = google__protobuf__file_descriptor_proto__unpack(NULL, b.len, b.data);
  assert_non_null(fd);
  char *name = strdup(fd->name);
  google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
  return name;
}

static void assert_file_at(const v1_response *resp, size_t i, const char *want) {
  char *name = file_name_at(resp, i);
  assert_string_equal(name, want);
  free(name);
}

/* A file response whose files start with the names given (NULL after the last); exact: no more. */
static void assert_files(const v1_response *resp, bool exact, const char *first, ...) {
  va_list ap;
  va_start(ap, first);
  size_t n = 0;
  for (const char *want = first; want != NULL; want = va_arg(ap, const char *)) {
    assert_file_at(resp, n++, want);
  }
  va_end(ap);
  if (exact) {
    assert_int_equal(resp->file_descriptor_response->n_file_descriptor_proto, n);
  }
}

static void test_wire_v1_grpcurl_sequence(void **state) {
  shimkit_client_call *c = open_v1(*state);

  /* list_services: every service, builtins included; the request is echoed. */
  v1_request list = list_request("myhost", "*");
  v1_response *resp = ask(c, &list);
  assert_string_equal(resp->valid_host, "myhost");
  assert_non_null(resp->original_request);
  assert_int_equal(resp->original_request->message_request_case,
                   GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES);
  assert_int_equal(resp->message_response_case,
                   GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
  const Grpc__Reflection__V1__ListServiceResponse *l = resp->list_services_response;
  assert_int_equal(l->n_service, 4);
  assert_true(has_service(l, "t.Svc"));
  assert_true(has_service(l, "grpc.health.v1.Health"));
  assert_true(has_service(l, "grpc.reflection.v1.ServerReflection"));
  assert_true(has_service(l, "grpc.reflection.v1alpha.ServerReflection"));
  release(resp);

  /* file_containing_symbol: the file and its imports, the file first. */
  v1_request sym = symbol_request("t.Svc");
  resp = ask(c, &sym);
  assert_string_equal(resp->original_request->file_containing_symbol, "t.Svc");
  assert_files(resp, true, "a.proto", "b.proto", "c.proto", NULL);
  release(resp);

  /* an unknown symbol: NOT_FOUND in error_response, and the stream goes on */
  v1_request missing = symbol_request("t.Missing");
  resp = ask(c, &missing);
  assert_int_equal(resp->message_response_case,
                   GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
  assert_int_equal(resp->error_response->error_code, SHIMKIT_NOT_FOUND);
  assert_non_null(strstr(resp->error_response->error_message, "t.Missing"));
  release(resp);

  /* file_by_filename for a dependency */
  v1_request byname = filename_request("b.proto");
  resp = ask(c, &byname);
  assert_files(resp, true, "b.proto", "c.proto", NULL);
  release(resp);
  byname = filename_request("nope.proto");
  assert_int_equal(ask_error(c, &byname), SHIMKIT_NOT_FOUND);

  /* the builtins describe themselves */
  v1_request health = symbol_request("grpc.health.v1.Health.Check");
  resp = ask(c, &health);
  assert_files(resp, false, "grpc/health/v1/health.proto", NULL);
  release(resp);

  /* extensions */
  v1_request nums = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  nums.message_request_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
  nums.all_extension_numbers_of_type = (char *)"t.Base";
  resp = ask(c, &nums);
  assert_int_equal(
      resp->message_response_case,
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE);
  assert_string_equal(resp->all_extension_numbers_response->base_type_name, "t.Base");
  assert_int_equal(resp->all_extension_numbers_response->n_extension_number, 2);
  release(resp);
  v1_extension ext = extension("t.Base", 101);
  v1_request byext = extension_request(&ext);
  resp = ask(c, &byext);
  assert_files(resp, false, "a.proto", NULL);
  release(resp);
  ext.extension_number = 7;
  assert_int_equal(ask_error(c, &byext), SHIMKIT_NOT_FOUND);

  close_v1(c);
}

static void test_wire_untrusted_requests(void **state) {
  shimkit_client_call *c = open_v1(*state);

  /* A request that asks nothing. */
  v1_request empty = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
  assert_int_equal(ask_error(c, &empty), SHIMKIT_INVALID_ARGUMENT);

  /* A huge symbol of multi-byte characters: echoed cut short, still UTF-8. */
  size_t n = 30000;
  char *big = malloc(n * 2 + 1);
  for (size_t i = 0; i < n; i++) {
    big[2 * i] = (char)0xc3; /* U+00E9 */
    big[2 * i + 1] = (char)0xa9;
  }
  big[2 * n] = '\0';
  v1_request sym = symbol_request(big);
  v1_response *resp = ask(c, &sym);
  assert_int_equal(resp->error_response->error_code, SHIMKIT_NOT_FOUND);
  const char *msg = resp->error_response->error_message;
  assert_true(strlen(msg) < 300);
  const char *tail = strstr(msg, ": ") + 2;
  assert_true(strlen(tail) % 2 == 0); /* whole characters only */
  release(resp);
  free(big);

  /* NULL-ish fields: an extension request without its message. */
  v1_request byext = extension_request(NULL);
  ask_error(c, &byext);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_OK);
}

static void test_wire_v1alpha(void **state) {
  struct fixture *f = *state;
  typedef Grpc__Reflection__V1alpha__ServerReflectionRequest a_request;
  typedef Grpc__Reflection__V1alpha__ServerReflectionResponse a_response;
  shimkit_client_call *c =
      grpc__reflection__v1alpha__server_reflection__shimkit_server_reflection_info_start(f->ch, NULL);
  a_request list = GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__INIT;
  list.host = (char *)"h";
  list.message_request_case =
      GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
  list.list_services = (char *)"";
  assert_int_equal(
      grpc__reflection__v1alpha__server_reflection__shimkit_server_reflection_info_send(c, &list), 0);
  a_response *resp = NULL;
  assert_int_equal(
      grpc__reflection__v1alpha__server_reflection__shimkit_server_reflection_info_recv(c, &resp), 1);
  assert_int_equal(
      resp->message_response_case,
      GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
  assert_int_equal(resp->list_services_response->n_service, 4);
  assert_string_equal(resp->valid_host, "h");
  protobuf_c_message_free_unpacked(&resp->base, NULL);

  a_request sym = GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__INIT;
  sym.message_request_case =
      GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
  sym.file_containing_symbol = (char *)"t.Outer.Inner.Deep";
  assert_int_equal(grpc__reflection__v1alpha__server_reflection__shimkit_server_reflection_info_send(c, &sym),
                   0);
  assert_int_equal(
      grpc__reflection__v1alpha__server_reflection__shimkit_server_reflection_info_recv(c, &resp), 1);
  assert_int_equal(
      resp->message_response_case,
      GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
  assert_int_equal(resp->file_descriptor_response->n_file_descriptor_proto, 3);
  assert_string_equal(resp->original_request->file_containing_symbol, "t.Outer.Inner.Deep");
  protobuf_c_message_free_unpacked(&resp->base, NULL);
  assert_int_equal(shimkit_client_call_finish(c), SHIMKIT_OK);
}

/* ---- the fallback (shimkit/reflection.h) ------------------------------------------ */

struct fb_seen {
  int lists;
  int finds;
  shimkit_reflection_query last_query;
  char last_name[64];
  int32_t last_number;
};

static struct fb_seen fb_seen;

static void fb_list(void *user_data, shimkit_reflection_answer *answer) {
  assert_ptr_equal(user_data, &fb_seen);
  fb_seen.lists++;
  assert_int_equal(shimkit_reflection_answer_add_service(answer, "x.Remote"), 0);
  assert_int_equal(shimkit_reflection_answer_add_service(answer, "t.Svc"), 0); /* listed already */
  assert_int_equal(shimkit_reflection_answer_add_service(answer, "x.Remote"), 0);
  assert_int_equal(shimkit_reflection_answer_add_service(NULL, "y"), -1);
}

/* Knows remote.proto (importing remote_dep.proto), which declares x.Remote. */
static void fb_find(void *user_data, shimkit_reflection_query query, const char *name, int32_t number,
                    shimkit_reflection_answer *answer) {
  assert_ptr_equal(user_data, &fb_seen);
  fb_seen.finds++;
  fb_seen.last_query = query;
  snprintf(fb_seen.last_name, sizeof fb_seen.last_name, "%s", name);
  fb_seen.last_number = number;
  if (strcmp(name, "x.Remote") != 0 && strcmp(name, "remote.proto") != 0 && strcmp(name, "x.Ext") != 0) {
    return;
  }
  const char *names[] = {"remote.proto", "remote_dep.proto"};
  for (int i = 0; i < 2; i++) {
    FileProto fd = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
    fd.name = (char *)names[i];
    uint8_t buf[64];
    size_t n = google__protobuf__file_descriptor_proto__get_packed_size(&fd);
    assert_true(n <= sizeof buf);
    google__protobuf__file_descriptor_proto__pack(&fd, buf);
    assert_int_equal(shimkit_reflection_answer_add_file(answer, buf, n), 0);
  }
  assert_int_equal(shimkit_reflection_answer_add_file(answer, NULL, 5), -1);
}

static int setup_fallback(void **state) {
  memset(&fb_seen, 0, sizeof fb_seen);
  shimkit_reflection_fallback fb = {fb_list, fb_find, &fb_seen};
  assert_int_equal(shimkit_server_set_reflection_fallback(NULL, &fb), SHIMKIT_INVALID_ARGUMENT);
  struct fixture *f = start_server(&fb);
  assert_int_equal(shimkit_server_set_reflection_fallback(f->srv, &fb), SHIMKIT_FAILED_PRECONDITION);
  *state = f;
  return 0;
}

static void test_wire_fallback(void **state) {
  shimkit_client_call *c = open_v1(*state);
  /* list_services: the server's own, then the fallback's, each name once. */
  v1_request list = list_request(NULL, "");
  v1_response *resp = ask(c, &list);
  const Grpc__Reflection__V1__ListServiceResponse *l = resp->list_services_response;
  assert_int_equal(l->n_service, 5);
  assert_true(has_service(l, "t.Svc"));
  assert_true(has_service(l, "x.Remote"));
  assert_int_equal(fb_seen.lists, 1);
  release(resp);

  /* A symbol the server knows: its own answer, the fallback is not asked. */
  v1_request own = symbol_request("t.Svc");
  resp = ask(c, &own);
  assert_files(resp, false, "a.proto", NULL);
  release(resp);
  assert_int_equal(fb_seen.finds, 0);

  /* One it does not: the fallback's files, in its order. */
  v1_request remote = symbol_request("x.Remote");
  resp = ask(c, &remote);
  assert_files(resp, true, "remote.proto", "remote_dep.proto", NULL);
  assert_string_equal(resp->original_request->file_containing_symbol, "x.Remote");
  release(resp);
  assert_int_equal(fb_seen.last_query, SHIMKIT_REFLECTION_FILE_CONTAINING_SYMBOL);

  /* Neither knows it: NOT_FOUND, as without a fallback. */
  v1_request nope = symbol_request("x.Nope");
  assert_int_equal(ask_error(c, &nope), SHIMKIT_NOT_FOUND);
  assert_string_equal(fb_seen.last_name, "x.Nope");

  v1_request byname = filename_request("remote.proto");
  resp = ask(c, &byname);
  assert_files(resp, false, "remote.proto", NULL);
  release(resp);
  assert_int_equal(fb_seen.last_query, SHIMKIT_REFLECTION_FILE_BY_FILENAME);

  v1_extension ext = extension("x.Ext", 77);
  v1_request byext = extension_request(&ext);
  resp = ask(c, &byext);
  assert_files(resp, false, "remote.proto", NULL);
  release(resp);
  assert_int_equal(fb_seen.last_query, SHIMKIT_REFLECTION_FILE_CONTAINING_EXTENSION);
  assert_int_equal(fb_seen.last_number, 77);

  close_v1(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_index_symbols),
      cmocka_unit_test(test_index_files_and_closure),
      cmocka_unit_test(test_index_extensions),
      cmocka_unit_test(test_index_generated_blobs),
      cmocka_unit_test(test_index_bad_blobs),
      cmocka_unit_test_setup_teardown(test_wire_v1_grpcurl_sequence, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wire_untrusted_requests, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wire_v1alpha, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wire_fallback, setup_fallback, teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
