/*
 * test_router_descriptors.c - the descriptor pool and field-path resolution
 * of the hash-on-field policy (descriptors.c): paths through nested and
 * imported message types, repeated steps, and every refusal (unknown
 * service, method or field, a step that is not a message, a message as the
 * last step, relative type names, bad method paths), plus bytes that are
 * not a descriptor and a full pool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "descriptors.h"
#include "google/protobuf/descriptor.pb-c.h"

typedef Google__Protobuf__FieldDescriptorProto field_proto;
typedef Google__Protobuf__DescriptorProto msg_proto;

static field_proto *field(const char *name, int number, int type, bool repeated, const char *type_name) {
  field_proto *f = calloc(1, sizeof *f);
  google__protobuf__field_descriptor_proto__init(f);
  f->name = (char *)name;
  f->has_number = true;
  f->number = number;
  f->has_type = true;
  f->type = (Google__Protobuf__FieldDescriptorProto__Type)type;
  f->has_label = true;
  f->label = repeated ? GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED
                      : GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL;
  f->type_name = (char *)type_name;
  return f;
}

static msg_proto *message(const char *name, field_proto **fields, size_t n, msg_proto **nested,
                          size_t n_nested) {
  msg_proto *m = calloc(1, sizeof *m);
  google__protobuf__descriptor_proto__init(m);
  m->name = (char *)name;
  m->field = fields;
  m->n_field = n;
  m->nested_type = nested;
  m->n_nested_type = n_nested;
  return m;
}

/* Packs a file and adds it to the pool; returns router_desc_pool_add's result. */
static int add(router_desc_pool *pool, Google__Protobuf__FileDescriptorProto *f) {
  size_t n = google__protobuf__file_descriptor_proto__get_packed_size(f);
  uint8_t *buf = malloc(n > 0 ? n : 1);
  google__protobuf__file_descriptor_proto__pack(f, buf);
  int r = router_desc_pool_add(pool, buf, n);
  free(buf);
  return r;
}

/*
 * keys.proto   (package ml.keys):  message EntityKey { string table = 1; string entity_id = 2; int64 shard =
 * 3; message Part { uint32 n = 1; } Part part = 4; } store.proto  (package ml.store, imports keys.proto):
 *   service Store { rpc Get(GetRequest) returns (GetRequest); rpc Bad(Relative) ... }
 *   message GetRequest { string model_name = 1; ml.keys.EntityKey key = 2; repeated ml.keys.EntityKey keys =
 * 3; repeated string tags = 4; bool flag = 5; } message Relative { EntityKey key = 1 (type_name without the
 * leading dot); }
 */
static router_desc_pool *make_pool(void) {
  router_desc_pool *pool = router_desc_pool_new();
  assert_non_null(pool);

  field_proto *part_fields[] = {field("n", 1, ROUTER_FT_UINT32, false, NULL)};
  msg_proto *part = message("Part", part_fields, 1, NULL, 0);
  field_proto *key_fields[] = {field("table", 1, ROUTER_FT_STRING, false, NULL),
                               field("entity_id", 2, ROUTER_FT_STRING, false, NULL),
                               field("shard", 3, ROUTER_FT_INT64, false, NULL),
                               field("part", 4, ROUTER_FT_MESSAGE, false, ".ml.keys.EntityKey.Part")};
  msg_proto *nested[] = {part};
  msg_proto *key = message("EntityKey", key_fields, 4, nested, 1);
  msg_proto *keys_msgs[] = {key};
  Google__Protobuf__FileDescriptorProto kf = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  kf.name = "ml/keys.proto";
  kf.package = "ml.keys";
  kf.message_type = keys_msgs;
  kf.n_message_type = 1;

  field_proto *req_fields[] = {field("model_name", 1, ROUTER_FT_STRING, false, NULL),
                               field("key", 2, ROUTER_FT_MESSAGE, false, ".ml.keys.EntityKey"),
                               field("keys", 3, ROUTER_FT_MESSAGE, true, ".ml.keys.EntityKey"),
                               field("tags", 4, ROUTER_FT_STRING, true, NULL),
                               field("flag", 5, ROUTER_FT_BOOL, false, NULL)};
  msg_proto *req = message("GetRequest", req_fields, 5, NULL, 0);
  field_proto *rel_fields[] = {field("key", 1, ROUTER_FT_MESSAGE, false, "EntityKey")};
  msg_proto *rel = message("Relative", rel_fields, 1, NULL, 0);
  msg_proto *store_msgs[] = {req, rel};
  Google__Protobuf__MethodDescriptorProto get = GOOGLE__PROTOBUF__METHOD_DESCRIPTOR_PROTO__INIT;
  get.name = "Get";
  get.input_type = ".ml.store.GetRequest";
  get.output_type = ".ml.store.GetRequest";
  Google__Protobuf__MethodDescriptorProto bad = GOOGLE__PROTOBUF__METHOD_DESCRIPTOR_PROTO__INIT;
  bad.name = "Bad";
  bad.input_type = ".ml.store.Relative";
  bad.output_type = ".ml.store.Relative";
  Google__Protobuf__MethodDescriptorProto *methods[] = {&get, &bad};
  Google__Protobuf__ServiceDescriptorProto svc = GOOGLE__PROTOBUF__SERVICE_DESCRIPTOR_PROTO__INIT;
  svc.name = "Store";
  svc.method = methods;
  svc.n_method = 2;
  Google__Protobuf__ServiceDescriptorProto *svcs[] = {&svc};
  char *deps[] = {"ml/keys.proto"};
  Google__Protobuf__FileDescriptorProto sf = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  sf.name = "ml/store.proto";
  sf.package = "ml.store";
  sf.dependency = deps;
  sf.n_dependency = 1;
  sf.message_type = store_msgs;
  sf.n_message_type = 2;
  sf.service = svcs;
  sf.n_service = 1;

  assert_int_equal(add(pool, &sf), 1);
  assert_string_equal(router_desc_pool_missing(pool), "ml/keys.proto");
  assert_int_equal(add(pool, &kf), 1);
  assert_null(router_desc_pool_missing(pool));
  assert_int_equal(add(pool, &kf), 0); /* same name again: kept once */
  assert_int_equal(router_desc_pool_count(pool), 2);

  for (size_t i = 0; i < 1; i++) {
    free(part_fields[i]);
  }
  for (size_t i = 0; i < 4; i++) {
    free(key_fields[i]);
  }
  for (size_t i = 0; i < 5; i++) {
    free(req_fields[i]);
  }
  free(rel_fields[0]);
  free(part);
  free(key);
  free(req);
  free(rel);
  return pool;
}

static void resolves(router_desc_pool *pool, const char *method, const char *path, int n,
                     const router_field_step *want) {
  router_field_path out;
  char err[256] = "";
  int r = router_desc_resolve(pool, method, path, &out, err, sizeof err);
  if (r != 0) {
    fail_msg("%s %s: %s", method, path, err);
  }
  assert_int_equal(out.n, n);
  for (int i = 0; i < n; i++) {
    assert_int_equal(out.steps[i].number, want[i].number);
    assert_int_equal(out.steps[i].type, want[i].type);
    assert_int_equal(out.steps[i].repeated, want[i].repeated);
  }
}

static void refused(router_desc_pool *pool, const char *method, const char *path, const char *why) {
  router_field_path out;
  char err[256] = "";
  assert_int_equal(router_desc_resolve(pool, method, path, &out, err, sizeof err), -1);
  if (strstr(err, why) == NULL) {
    fail_msg("%s %s: '%s' does not say '%s'", method, path, err, why);
  }
}

static void test_resolve(void **state) {
  (void)state;
  router_desc_pool *pool = make_pool();
  resolves(pool, "/ml.store.Store/Get", "model_name", 1, (router_field_step[]){{1, ROUTER_FT_STRING, false}});
  resolves(pool, "/ml.store.Store/Get", "key.entity_id", 2,
           (router_field_step[]){{2, ROUTER_FT_MESSAGE, false}, {2, ROUTER_FT_STRING, false}});
  resolves(pool, "/ml.store.Store/Get", "keys.shard", 2,
           (router_field_step[]){{3, ROUTER_FT_MESSAGE, true}, {3, ROUTER_FT_INT64, false}});
  resolves(pool, "/ml.store.Store/Get", "key.part.n", 3,
           (router_field_step[]){
               {2, ROUTER_FT_MESSAGE, false}, {4, ROUTER_FT_MESSAGE, false}, {1, ROUTER_FT_UINT32, false}});
  resolves(pool, "/ml.store.Store/Get", "tags", 1, (router_field_step[]){{4, ROUTER_FT_STRING, true}});
  resolves(pool, "/ml.store.Store/Get", "flag", 1, (router_field_step[]){{5, ROUTER_FT_BOOL, false}});

  refused(pool, "/ml.store.Nope/Get", "model_name", "service ml.store.Nope");
  refused(pool, "/ml.store.Store/Put", "model_name", "method Put");
  refused(pool, "/ml.store.Store/Get", "model", "no field model");
  refused(pool, "/ml.store.Store/Get", "key.nope", "no field nope");
  refused(pool, "/ml.store.Store/Get", "key", "is a message");
  refused(pool, "/ml.store.Store/Get", "model_name.x", "not a message");
  refused(pool, "/ml.store.Store/Get", "key..table", "no field");
  refused(pool, "/ml.store.Store/Get", "", "no field path");
  refused(pool, "/ml.store.Store/Bad", "key.table", "not a message"); /* relative type name */
  refused(pool, "ml.store.Store/Get", "model_name", "not a method path");
  refused(pool, "/ml.store.Store/", "model_name", "not a method path");
  refused(pool, "/ml.store.Store/Get/x", "model_name", "not a method path");
  refused(pool, "//Get", "model_name", "not a method path");
  router_desc_pool_free(pool);
}

static void test_bad_bytes_and_limits(void **state) {
  (void)state;
  router_desc_pool *pool = router_desc_pool_new();
  const uint8_t junk[] = {0xff, 0xff, 0xff, 0x01, 0x02};
  assert_int_equal(router_desc_pool_add(pool, junk, sizeof junk), -1);
  assert_int_equal(router_desc_pool_add(pool, NULL, 3), -1);
  /* A descriptor without a name is refused. */
  Google__Protobuf__FileDescriptorProto f = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  f.package = "x";
  assert_int_equal(add(pool, &f), -1);
  /* The pool holds at most ROUTER_DESC_MAX_FILES files. */
  char name[32];
  for (int i = 0; i < ROUTER_DESC_MAX_FILES; i++) {
    snprintf(name, sizeof name, "f%d.proto", i);
    f.name = name;
    assert_int_equal(add(pool, &f), 1);
  }
  f.name = "one-too-many.proto";
  assert_int_equal(add(pool, &f), -1);
  assert_int_equal(router_desc_pool_count(pool), ROUTER_DESC_MAX_FILES);
  router_field_path out;
  char err[128];
  assert_int_equal(router_desc_resolve(pool, "/x.S/M", "a", &out, err, sizeof err), -1);
  router_desc_pool_free(pool);
  router_desc_pool_free(NULL);
}

static void test_truncated_descriptors(void **state) {
  (void)state;
  Google__Protobuf__FileDescriptorProto f = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
  field_proto *fields[] = {field("model_name", 1, ROUTER_FT_STRING, false, NULL)};
  msg_proto *m = message("Req", fields, 1, NULL, 0);
  msg_proto *msgs[] = {m};
  f.name = "t.proto";
  f.package = "t";
  f.message_type = msgs;
  f.n_message_type = 1;
  size_t n = google__protobuf__file_descriptor_proto__get_packed_size(&f);
  uint8_t *buf = malloc(n);
  google__protobuf__file_descriptor_proto__pack(&f, buf);
  for (size_t cut = 0; cut <= n; cut++) {
    router_desc_pool *pool = router_desc_pool_new();
    uint8_t *copy = malloc(cut > 0 ? cut : 1);
    memcpy(copy, buf, cut);
    int r = router_desc_pool_add(pool, copy, cut);
    assert_true(r == -1 || r == 1);
    free(copy);
    router_desc_pool_free(pool);
  }
  free(buf);
  free(fields[0]);
  free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resolve),
      cmocka_unit_test(test_bad_bytes_and_limits),
      cmocka_unit_test(test_truncated_descriptors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
