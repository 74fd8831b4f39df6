/*
 * test_codegen_malformed.c - the generator on hostile input, in-process.
 *
 * sk_run() is fed: a real request (built from a descriptor set of
 * kinds.proto, as protoc would send it), every truncation of it, every
 * single-byte corruption of it, and well-formed requests whose content is
 * wrong (unknown types, bad names, a parameter, name collisions, import
 * cycles, paths leaving the output directory). The property: it never
 * crashes (run it under ASan/UBSan), input that is not a request fails with
 * -1, and any response it returns decodes, with .error set for bad content.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codegen.h"

typedef Google__Protobuf__Compiler__CodeGeneratorRequest request;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse response;

static const char *descset_path;
static uint8_t *valid;      /* packed valid request */
static size_t valid_len;

/* Runs the generator; returns the decoded response or NULL when sk_run failed. */
static response *run(const uint8_t *in, size_t len) {
  uint8_t *out = NULL;
  size_t out_len = 0;
  char err[512];
  int rc = sk_run(in, len, &out, &out_len, err, sizeof err);
  if (rc != 0) {
    assert_null(out);
    assert_true(strlen(err) > 0);
    return NULL;
  }
  response *resp = google__protobuf__compiler__code_generator_response__unpack(NULL, out_len, out);
  free(out);
  assert_non_null(resp);
  return resp;
}

static request *unpack_valid(void) {
  request *req = google__protobuf__compiler__code_generator_request__unpack(NULL, valid_len, valid);
  assert_non_null(req);
  return req;
}

static response *run_request(const request *req) {
  size_t len = google__protobuf__compiler__code_generator_request__get_packed_size(req);
  uint8_t *buf = malloc(len + 1);
  assert_non_null(buf);
  google__protobuf__compiler__code_generator_request__pack(req, buf);
  response *resp = run(buf, len);
  free(buf);
  return resp;
}

static int setup(void **state) {
  (void)state;
  FILE *f = fopen(descset_path, "rb");
  if (f == NULL) return -1;
  static uint8_t buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  Google__Protobuf__FileDescriptorSet *set =
      google__protobuf__file_descriptor_set__unpack(NULL, n, buf);
  if (set == NULL || set->n_file == 0) return -1;
  request req;
  google__protobuf__compiler__code_generator_request__init(&req);
  char *to_generate[1] = {set->file[set->n_file - 1]->name};
  req.n_file_to_generate = 1;
  req.file_to_generate = to_generate;
  req.n_proto_file = set->n_file;
  req.proto_file = set->file;
  valid_len = google__protobuf__compiler__code_generator_request__get_packed_size(&req);
  valid = malloc(valid_len);
  google__protobuf__compiler__code_generator_request__pack(&req, valid);
  google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(valid);
  return 0;
}

static void test_valid_request(void **state) {
  (void)state;
  response *resp = run(valid, valid_len);
  assert_non_null(resp);
  assert_null(resp->error);
  assert_int_equal(resp->n_file, 2);
  assert_string_equal(resp->file[0]->name, "shimkit/test/kinds.shimkit.h");
  assert_string_equal(resp->file[1]->name, "shimkit/test/kinds.shimkit.c");
  assert_non_null(strstr(resp->file[1]->content, "shimkit__test__kinds__shimkit_register"));
  google__protobuf__compiler__code_generator_response__free_unpacked(resp, NULL);
}

static void test_every_truncation(void **state) {
  (void)state;
  for (size_t len = 0; len < valid_len; len++) {
    uint8_t *copy = malloc(len + 1); /* exact size: ASan catches overreads */
    memcpy(copy, valid, len);
    response *resp = run(copy, len);
    if (resp != NULL) google__protobuf__compiler__code_generator_response__free_unpacked(resp, NULL);
    free(copy);
  }
}

static void test_every_byte_corrupted(void **state) {
  (void)state;
  static const uint8_t patterns[] = {0xff, 0x80, 0x00, 0x01};
  uint8_t *copy = malloc(valid_len);
  for (size_t p = 0; p < sizeof patterns; p++) {
    for (size_t i = 0; i < valid_len; i++) {
      memcpy(copy, valid, valid_len);
      copy[i] = p == 0 ? (uint8_t)(copy[i] ^ 0xff) : patterns[p];
      response *resp = run(copy, valid_len);
      if (resp != NULL)
        google__protobuf__compiler__code_generator_response__free_unpacked(resp, NULL);
    }
  }
  free(copy);
}

static void test_garbage(void **state) {
  (void)state;
  static const uint8_t overrun[] = {0x0a, 0x7f, 'a', 'b'};
  static const uint8_t bad_wire[] = {0x0f, 0x0f};
  static const uint8_t huge_len[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
  assert_null(run(overrun, sizeof overrun));
  assert_null(run(bad_wire, sizeof bad_wire));
  assert_null(run(huge_len, sizeof huge_len));
  /* deeply nested length-delimited fields: proto_file > message_type > nested_type ... */
  enum { DEPTH = 2000 };
  uint8_t *deep = malloc(DEPTH * 6);
  size_t n = 0;
  for (int i = 0; i < DEPTH; i++) {
    deep[n++] = 0x7a; /* field 15 (proto_file), length-delimited */
    deep[n++] = 0x00; /* empty: valid */
  }
  response *resp = run(deep, n);
  if (resp != NULL) google__protobuf__compiler__code_generator_response__free_unpacked(resp, NULL);
  free(deep);
  /* empty input = empty request: nothing to generate, no error */
  resp = run((const uint8_t *)"", 0);
  assert_non_null(resp);
  assert_null(resp->error);
  assert_int_equal(resp->n_file, 0);
  google__protobuf__compiler__code_generator_response__free_unpacked(resp, NULL);
}

/* ---- well-formed requests with wrong content ------------------------------------ */

static Google__Protobuf__FileDescriptorProto *kinds_file(request *req) {
  return req->proto_file[req->n_proto_file - 1];
}

static void expect_error(request *req, const char *needle) {
  response *resp = run_request(req);
  assert_non_null(resp);
  if (resp->error == NULL) fail_msg("no error, wanted one containing \"%s\"", needle);
  if (strstr(resp->error, needle) == NULL) fail_msg("error \"%s\" lacks \"%s\"", resp->error, needle);
  assert_int_equal(resp->n_file, 0);
  google__protobuf__compiler__code_generator_response__free_unpacked(resp, NULL);
}

static void test_content_errors(void **state) {
  (void)state;
  request *req;
  char *saved;

  req = unpack_valid();
  saved = req->file_to_generate[0];
  req->file_to_generate[0] = "missing.proto";
  expect_error(req, "not among proto_file");
  req->file_to_generate[0] = "../evil.proto";
  expect_error(req, "leaves the output directory");
  req->file_to_generate[0] = "/abs.proto";
  expect_error(req, "absolute");
  req->file_to_generate[0] = saved;

  req->parameter = "foo=bar";
  expect_error(req, "takes no parameters");
  req->parameter = NULL;

  Google__Protobuf__MethodDescriptorProto *m = kinds_file(req)->service[0]->method[0];
  saved = m->input_type;
  m->input_type = ".shimkit.test.Nope";
  expect_error(req, "not declared");
  m->input_type = "not a type";
  expect_error(req, "invalid type name");
  m->input_type = NULL;
  expect_error(req, "no input or output type");
  m->input_type = saved;

  saved = m->name;
  m->name = "Bad-Name";
  expect_error(req, "invalid method name");
  m->name = "ServerStream"; /* duplicate of method[1] */
  expect_error(req, "declared twice");
  m->name = "Server_stream"; /* same member as ServerStream */
  expect_error(req, "handler member");
  m->name = "ClientStreamRead"; /* unary stub collides with ClientStream's _read helper */
  expect_error(req, "two generated C names");
  m->name = saved;

  saved = kinds_file(req)->dependency[0];
  kinds_file(req)->dependency[0] = "gone.proto";
  expect_error(req, "not among proto_file");
  kinds_file(req)->dependency[0] = kinds_file(req)->name; /* imports itself */
  expect_error(req, "import cycle");
  kinds_file(req)->dependency[0] = saved;

  saved = kinds_file(req)->package;
  kinds_file(req)->package = "bad..pkg";
  expect_error(req, "invalid package name");
  kinds_file(req)->package = saved;

  /* still valid after all the edits were undone */
  response *resp = run_request(req);
  assert_null(resp->error);
  google__protobuf__compiler__code_generator_response__free_unpacked(resp, NULL);
  google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s kinds.descset\n", argv[0]);
    return 2;
  }
  descset_path = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_request),
      cmocka_unit_test(test_every_truncation),
      cmocka_unit_test(test_every_byte_corrupted),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_content_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
