/*
 * test_codegen_tables.c - the tables protoc-gen-shimkit generated for
 * tests/codegen/protos, checked from the outside through the public types:
 * methods sorted by path with the right kinds and message descriptors, the
 * file blobs decode as FileDescriptorProtos with every dependency before its
 * dependant and the declaring file last, and each invoke trampoline calls
 * its own typed member (or answers UNIMPLEMENTED when it is NULL).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "a/b/c/v1/deep.shimkit.h"
#include "cpkg/renamed.shimkit.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "keywords.shimkit.h"
#include "shimkit/test/common.shimkit.h"
#include "shimkit/test/kinds.shimkit.h"

static const shimkit_service_desc *const all_services[] = {
    &shimkit__test__kinds__shimkit_service,
    &shimkit__test__well_known__shimkit_service,
    &a__b__c__v1__deep_service__shimkit_service,
    &switch__shimkit_service,
    &renamed__pkg__svc__shimkit_service,
};
#define N_SERVICES (sizeof all_services / sizeof all_services[0])

/* ---- generic properties of every table --------------------------------------- */

static void test_methods_sorted_and_named(void **state) {
  (void)state;
  for (size_t s = 0; s < N_SERVICES; s++) {
    const shimkit_service_desc *svc = all_services[s];
    assert_int_equal(svc->abi_version, SHIMKIT_ABI_VERSION);
    assert_true(svc->n_methods > 0);
    for (size_t i = 0; i < svc->n_methods; i++) {
      const shimkit_method_desc *m = &svc->methods[i];
      char path[512];
      snprintf(path, sizeof path, "/%s/%s", svc->full_name, m->name);
      assert_string_equal(m->path, path);
      assert_non_null(m->request);
      assert_non_null(m->response);
      assert_non_null(m->invoke);
      assert_int_equal(m->request->magic, PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
      assert_int_equal(m->response->magic, PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
      if (i > 0) assert_true(strcmp(svc->methods[i - 1].path, m->path) < 0);
      assert_ptr_equal(shimkit_service_find_method(svc, m->path), m);
    }
    assert_null(shimkit_service_find_method(svc, "/no.Such/Method"));
  }
}

static void test_blobs_decode_in_dependency_order(void **state) {
  (void)state;
  for (size_t s = 0; s < N_SERVICES; s++) {
    const shimkit_service_desc *svc = all_services[s];
    assert_true(svc->n_files >= 1);
    assert_string_equal(svc->files[svc->n_files - 1].name, svc->file_name);
    for (size_t i = 0; i < svc->n_files; i++) {
      const shimkit_file_blob *b = &svc->files[i];
      Google__Protobuf__FileDescriptorProto *fd =
          google__protobuf__file_descriptor_proto__unpack(NULL, b->len, b->data);
      assert_non_null(fd);
      assert_string_equal(fd->name, b->name);
      assert_null(fd->source_code_info); /* stripped by the generator */
      for (size_t d = 0; d < fd->n_dependency; d++) {
        size_t j = 0;
        while (j < i && strcmp(svc->files[j].name, fd->dependency[d]) != 0) j++;
        if (j == i) fail_msg("%s: %s depends on %s, which is not before it", svc->full_name,
                             b->name, fd->dependency[d]);
      }
      for (size_t j = 0; j < i; j++) assert_string_not_equal(svc->files[j].name, b->name);
      google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
    }
  }
}

static void test_kinds_service_layout(void **state) {
  (void)state;
  const shimkit_service_desc *svc = &shimkit__test__kinds__shimkit_service;
  static const struct {
    const char *name;
    shimkit_method_kind kind;
    const ProtobufCMessageDescriptor *req, *rep;
  } want[] = {
      {"AaaFirst", SHIMKIT_METHOD_UNARY, &shimkit__test__outer__inner__descriptor,
       &shimkit__test__outer__descriptor},
      {"BidiStream", SHIMKIT_METHOD_BIDI_STREAMING, &shimkit__test__ping__descriptor,
       &shimkit__test__pong__descriptor},
      {"ClientStream", SHIMKIT_METHOD_CLIENT_STREAMING, &shimkit__test__ping__descriptor,
       &shimkit__test__pong__descriptor},
      {"ServerStream", SHIMKIT_METHOD_SERVER_STREAMING, &shimkit__test__ping__descriptor,
       &shimkit__test__pong__descriptor},
      {"Unary", SHIMKIT_METHOD_UNARY, &shimkit__test__ping__descriptor,
       &shimkit__test__pong__descriptor},
  };
  assert_int_equal(svc->n_methods, 5);
  assert_string_equal(svc->full_name, "shimkit.test.Kinds");
  assert_string_equal(svc->file_name, "shimkit/test/kinds.proto");
  for (size_t i = 0; i < 5; i++) {
    assert_string_equal(svc->methods[i].name, want[i].name);
    assert_int_equal(svc->methods[i].kind, want[i].kind);
    assert_ptr_equal(svc->methods[i].request, want[i].req);
    assert_ptr_equal(svc->methods[i].response, want[i].rep);
  }
  assert_int_equal(SHIMKIT__TEST__KINDS__SHIMKIT_AAA_FIRST, 0);
  assert_int_equal(SHIMKIT__TEST__KINDS__SHIMKIT_UNARY, 4);
  /* five WKTs and common.proto before kinds.proto */
  assert_int_equal(svc->n_files, 7);
  assert_ptr_equal(svc->files, shimkit__test__well_known__shimkit_service.files);

  const shimkit_service_desc *wk = &shimkit__test__well_known__shimkit_service;
  assert_int_equal(wk->n_methods, 4);
  assert_string_equal(wk->methods[SHIMKIT__TEST__WELL_KNOWN__SHIMKIT_NOW].name, "Now");
  assert_ptr_equal(wk->methods[SHIMKIT__TEST__WELL_KNOWN__SHIMKIT_NOW].response,
                   &google__protobuf__timestamp__descriptor);
  assert_ptr_equal(wk->methods[SHIMKIT__TEST__WELL_KNOWN__SHIMKIT_CONFIG].request,
                   &google__protobuf__struct__descriptor);
  assert_ptr_equal(wk->methods[SHIMKIT__TEST__WELL_KNOWN__SHIMKIT_CONFIG].response,
                   &google__protobuf__any__descriptor);
  assert_int_equal(wk->methods[SHIMKIT__TEST__WELL_KNOWN__SHIMKIT_WRAPPED].kind,
                   SHIMKIT_METHOD_CLIENT_STREAMING);
  assert_ptr_equal(wk->methods[SHIMKIT__TEST__WELL_KNOWN__SHIMKIT_WRAPPED].request,
                   &google__protobuf__string_value__descriptor);

  const shimkit_service_desc *deep = &a__b__c__v1__deep_service__shimkit_service;
  assert_string_equal(deep->full_name, "a.b.c.v1.DeepService");
  assert_int_equal(deep->n_files, 2);
  assert_string_equal(deep->files[0].name, "shimkit/test/common.proto");
  assert_ptr_equal(deep->methods[A__B__C__V1__DEEP_SERVICE__SHIMKIT_WATCH].response,
                   &shimkit__test__outer__inner__descriptor);

  /* c_package renames the C names, never the wire names */
  assert_string_equal(renamed__pkg__svc__shimkit_service.full_name, "original.pkg.Svc");
  assert_ptr_equal(renamed__pkg__svc__shimkit_service.methods[0].request,
                   &renamed__pkg__req__descriptor);
}

/* ---- trampolines ---------------------------------------------------------------- */

static shimkit_call *const fake_call = (shimkit_call *)(uintptr_t)0x1000;
static const char *called;    /* which handler ran */
static void *seen_user_data;

static shimkit_code on_unary(shimkit_call *call, const Shimkit__Test__Ping *request,
                             Shimkit__Test__Pong *response, void *user_data) {
  assert_ptr_equal(call, fake_call);
  assert_string_equal(request->text, "ping");
  response->seq = 42;
  called = "unary";
  seen_user_data = user_data;
  return SHIMKIT_ABORTED;
}
static shimkit_code on_server_stream(shimkit_call *call, const Shimkit__Test__Ping *request,
                                     void *user_data) {
  assert_ptr_equal(call, fake_call);
  assert_string_equal(request->text, "ping");
  called = "server_stream";
  seen_user_data = user_data;
  return SHIMKIT_OUT_OF_RANGE;
}
static shimkit_code on_client_stream(shimkit_call *call, Shimkit__Test__Pong *response,
                                     void *user_data) {
  assert_ptr_equal(call, fake_call);
  response->seq = 7;
  called = "client_stream";
  seen_user_data = user_data;
  return SHIMKIT_DATA_LOSS;
}
static shimkit_code on_bidi(shimkit_call *call, void *user_data) {
  assert_ptr_equal(call, fake_call);
  called = "bidi";
  seen_user_data = user_data;
  return SHIMKIT_OK;
}

static shimkit_code invoke(const shimkit_service_desc *svc, size_t idx, const void *handlers,
                           const ProtobufCMessage *req, ProtobufCMessage *rep, void *ud) {
  called = NULL;
  seen_user_data = NULL;
  return svc->methods[idx].invoke(handlers, fake_call, req, rep, ud);
}

static void test_trampolines_call_their_member(void **state) {
  (void)state;
  const shimkit_service_desc *svc = &shimkit__test__kinds__shimkit_service;
  Shimkit__Test__Kinds_Handlers h = {
      .unary = on_unary,
      .server_stream = on_server_stream,
      .client_stream = on_client_stream,
      .bidi_stream = on_bidi,
  };
  int ud = 0;
  Shimkit__Test__Ping ping = SHIMKIT__TEST__PING__INIT;
  ping.text = "ping";
  Shimkit__Test__Pong pong = SHIMKIT__TEST__PONG__INIT;

  assert_int_equal(invoke(svc, SHIMKIT__TEST__KINDS__SHIMKIT_UNARY, &h, &ping.base, &pong.base, &ud),
                   SHIMKIT_ABORTED);
  assert_string_equal(called, "unary");
  assert_ptr_equal(seen_user_data, &ud);
  assert_int_equal(pong.seq, 42);

  assert_int_equal(invoke(svc, SHIMKIT__TEST__KINDS__SHIMKIT_SERVER_STREAM, &h, &ping.base, NULL, &ud),
                   SHIMKIT_OUT_OF_RANGE);
  assert_string_equal(called, "server_stream");

  assert_int_equal(invoke(svc, SHIMKIT__TEST__KINDS__SHIMKIT_CLIENT_STREAM, &h, NULL, &pong.base, &ud),
                   SHIMKIT_DATA_LOSS);
  assert_string_equal(called, "client_stream");
  assert_int_equal(pong.seq, 7);

  assert_int_equal(invoke(svc, SHIMKIT__TEST__KINDS__SHIMKIT_BIDI_STREAM, &h, NULL, NULL, &ud),
                   SHIMKIT_OK);
  assert_string_equal(called, "bidi");
  assert_ptr_equal(seen_user_data, &ud);

  /* aaa_first is NULL in h */
  Shimkit__Test__Outer__Inner inner = SHIMKIT__TEST__OUTER__INNER__INIT;
  Shimkit__Test__Outer outer = SHIMKIT__TEST__OUTER__INIT;
  assert_int_equal(invoke(svc, SHIMKIT__TEST__KINDS__SHIMKIT_AAA_FIRST, &h, &inner.base, &outer.base, &ud),
                   SHIMKIT_UNIMPLEMENTED);
  assert_null(called);
}

static void test_null_members_are_unimplemented(void **state) {
  (void)state;
  for (size_t s = 0; s < N_SERVICES; s++) {
    const shimkit_service_desc *svc = all_services[s];
    /* an all-NULL table of any size: the largest handler struct here has 5 members */
    void *empty[16] = {0};
    for (size_t i = 0; i < svc->n_methods; i++) {
      assert_int_equal(svc->methods[i].invoke(empty, fake_call, NULL, NULL, NULL),
                       SHIMKIT_UNIMPLEMENTED);
      assert_int_equal(svc->methods[i].invoke(NULL, fake_call, NULL, NULL, NULL),
                       SHIMKIT_UNIMPLEMENTED);
    }
  }
}

/* ---- C keywords -------------------------------------------------------------------- */

static shimkit_code on_service(shimkit_call *call, const Int *request, Struct *response,
                               void *user_data) {
  (void)call;
  (void)user_data;
  response->switch_ = request->int_ + 1;
  called = "service_";
  return SHIMKIT_OK;
}
static shimkit_code on_class(shimkit_call *call, void *user_data) {
  (void)call;
  (void)user_data;
  called = "class_";
  return SHIMKIT_OK;
}

static void test_keyword_names_are_escaped(void **state) {
  (void)state;
  /* these members only exist if the generator escaped them */
  Switch_Handlers h = {.service_ = on_service, .class_ = on_class, .methods_ = NULL,
                       .new_ = NULL, .plain = NULL};
  Int in = INT__INIT;
  Struct out = STRUCT__INIT;
  in.int_ = 41;
  assert_int_equal(invoke(&switch__shimkit_service, SWITCH__SHIMKIT_SERVICE, &h, &in.base,
                          &out.base, NULL),
                   SHIMKIT_OK);
  assert_string_equal(called, "service_");
  assert_int_equal(out.switch_, 42);
  assert_int_equal(invoke(&switch__shimkit_service, SWITCH__SHIMKIT_CLASS, &h, NULL, NULL, NULL),
                   SHIMKIT_OK);
  assert_string_equal(called, "class_");
  assert_string_equal(switch__shimkit_service.full_name, "Switch");
  /* functions named after the escaped members exist (address taken) */
  assert_non_null(&switch__shimkit_service_);
  assert_non_null(&switch__shimkit_methods_);
  assert_non_null(&switch__shimkit_class__start);
  assert_non_null(&switch__shimkit_register);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_methods_sorted_and_named),
      cmocka_unit_test(test_blobs_decode_in_dependency_order),
      cmocka_unit_test(test_kinds_service_layout),
      cmocka_unit_test(test_trampolines_call_their_member),
      cmocka_unit_test(test_null_members_are_unimplemented),
      cmocka_unit_test(test_keyword_names_are_escaped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
