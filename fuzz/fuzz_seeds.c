/*
 * fuzz_seeds.c - writes the seed corpus of the binary fuzz targets into
 * DIR/<target>/, built at build time from real messages and the real
 * descriptors the generated code embeds, so seeds follow the protos when
 * they change. (Text targets, router_state and shimctl_stack, keep their
 * seeds in fuzz/corpus/ with the regression inputs of every target.)
 *
 *   fuzz_seeds DIR
 *
 * Each seed is in its target's input layout (see the target's top comment).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_services.h"

static const char *g_dir;

/* A growable byte buffer; out of memory ends the program. */
typedef struct buf {
  uint8_t *p;
  size_t len, cap;
} buf;

static void put(buf *b, const void *data, size_t len) {
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + len) {
      cap *= 2;
    }
    b->p = realloc(b->p, cap);
    if (b->p == NULL) {
      fprintf(stderr, "fuzz_seeds: out of memory\n");
      exit(1);
    }
    b->cap = cap;
  }
  if (len > 0) {
    memcpy(b->p + b->len, data, len);
  }
  b->len += len;
}

static void put_byte(buf *b, uint8_t v) { put(b, &v, 1); }
static void put_str(buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_msg(buf *b, const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *tmp = malloc(n > 0 ? n : 1);
  if (tmp == NULL) {
    exit(1);
  }
  protobuf_c_message_pack(m, tmp);
  put(b, tmp, n);
  free(tmp);
}

/* fuzz.h's split layout: a 2-byte little-endian length, the first part, then the rest. */
static void put_first_part(buf *b, const buf *first) {
  if (first->len > 0xFFFF) {
    fprintf(stderr, "fuzz_seeds: a first part of %zu bytes does not fit a 2-byte length\n", first->len);
    exit(1);
  }
  put_byte(b, (uint8_t)(first->len & 0xFF));
  put_byte(b, (uint8_t)(first->len >> 8));
  put(b, first->p, first->len);
}

/* Writes b as DIR/target/name and empties it. */
static void seed(buf *b, const char *target, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", g_dir, target);
  if (mkdir(path, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "fuzz_seeds: cannot create %s: %s\n", path, strerror(errno));
    exit(1);
  }
  snprintf(path, sizeof path, "%s/%s/%s", g_dir, target, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(b->p, 1, b->len, f) != b->len || fclose(f) != 0) {
    fprintf(stderr, "fuzz_seeds: cannot write %s\n", path);
    exit(1);
  }
  b->len = 0;
}

/* ---- field_key: path bytes, then the message ---------------------------------- */

static void seeds_field_key(void) {
  buf b = {0};
  /* 1 step: field 1 string. */
  put(&b, "\x00\x80\x0a\x05hello", 9);
  seed(&b, "field_key", "string");
  /* 2 steps: field 2 message, then field 1 int64 = 150. */
  put(&b, "\x01\x01\x20\x12\x03\x08\x96\x01", 8);
  seed(&b, "field_key", "nested_int64");
  /* 1 step: field 3 repeated int32, packed. */
  put(&b, "\x00\x4a\x1a\x03\x01\x02\x03", 7);
  seed(&b, "field_key", "packed_int32");
  /* 1 step: field 1 fixed64. */
  put(&b, "\x00\x50\x09\x01\x02\x03\x04\x05\x06\x07\x08", 11);
  seed(&b, "field_key", "fixed64");
  /* A group (field 2) skipped before field 1. */
  put(&b, "\x00\x80\x13\x08\x01\x14\x0a\x01x", 9);
  seed(&b, "field_key", "group_skipped");
  free(b.p);
}

/* ---- router_descriptors: files, then "method field" and a message ----------------- */

static void put_files(buf *b, const shimkit_service_desc *svc) {
  ProtobufCBinaryData *blobs = calloc(svc->n_files, sizeof *blobs);
  if (blobs == NULL) {
    exit(1);
  }
  for (size_t i = 0; i < svc->n_files; i++) {
    blobs[i].data = (uint8_t *)svc->files[i].data;
    blobs[i].len = svc->files[i].len;
  }
  Grpc__Reflection__V1__FileDescriptorResponse fds = GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
  fds.n_file_descriptor_proto = svc->n_files;
  fds.file_descriptor_proto = blobs;
  buf first = {0};
  put_msg(&first, &fds.base);
  put_first_part(b, &first);
  free(first.p);
  free(blobs);
}

static void seeds_router_descriptors(void) {
  buf b = {0};
  char *keys[] = {"patient-7", "patient-9"};
  Shimkit__Ml__V1__GetOnlineFeaturesRequest online = SHIMKIT__ML__V1__GET_ONLINE_FEATURES_REQUEST__INIT;
  online.view = "patients";
  online.n_entity_keys = 2;
  online.entity_keys = keys;
  put_files(&b, &shimkit__ml__v1__feature_store__shimkit_service);
  put_str(&b, "/shimkit.ml.v1.FeatureStore/GetOnlineFeatures entity_keys\n");
  put_msg(&b, &online.base);
  seed(&b, "router_descriptors", "feature_store_entity_keys");

  Shimkit__Ml__V1__FeatureRow row = SHIMKIT__ML__V1__FEATURE_ROW__INIT;
  row.entity_key = "patient-7";
  Shimkit__Ml__V1__FeatureRow *rows[] = {&row};
  Shimkit__Ml__V1__WriteRowsRequest write = SHIMKIT__ML__V1__WRITE_ROWS_REQUEST__INIT;
  write.view = "patients";
  write.n_rows = 1;
  write.rows = rows;
  put_files(&b, &shimkit__ml__v1__feature_store__shimkit_service);
  put_str(&b, "/shimkit.ml.v1.FeatureStore/WriteRows rows.entity_key\n");
  put_msg(&b, &write.base);
  seed(&b, "router_descriptors", "feature_store_nested");

  Inference__ModelInferRequest infer = INFERENCE__MODEL_INFER_REQUEST__INIT;
  infer.model_name = "heart";
  infer.model_version = "2";
  put_files(&b, &inference__grpcinference_service__shimkit_service);
  put_str(&b, "/inference.GRPCInferenceService/ModelInfer model_name\n");
  put_msg(&b, &infer.base);
  seed(&b, "router_descriptors", "inference_model_name");
  free(b.p);
}

/* ---- reflection_request: v1 / v1alpha byte, then the request ---------------------- */

static void seeds_reflection_request(void) {
  buf b = {0};
  Grpc__Reflection__V1__ExtensionRequest ext = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
  ext.containing_type = "google.protobuf.FieldOptions";
  ext.extension_number = 1;
  struct {
    const char *name;
    Grpc__Reflection__V1__ServerReflectionRequest__MessageRequestCase which;
    char *text;
  } reqs[] = {
      {"list", GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES, "*"},
      {"file", GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME,
       "ml/v1/feature_store.proto"},
      {"symbol_method", GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL,
       "shimkit.ml.v1.FeatureStore.WriteRows"},
      {"symbol_nested", GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL,
       ".inference.ModelInferRequest.InferInputTensor"},
      {"extension", GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION,
       NULL},
      {"extension_numbers",
       GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE,
       "google.protobuf.FieldOptions"},
  };
  for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
    for (uint8_t alpha = 0; alpha < 2; alpha++) {
      Grpc__Reflection__V1__ServerReflectionRequest req = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
      req.host = "";
      req.message_request_case = reqs[i].which;
      switch (reqs[i].which) {
      case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        req.list_services = reqs[i].text;
        break;
      case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        req.file_by_filename = reqs[i].text;
        break;
      case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        req.file_containing_symbol = reqs[i].text;
        break;
      case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        req.file_containing_extension = &ext;
        break;
      default: req.all_extension_numbers_of_type = reqs[i].text; break;
      }
      put_byte(&b, alpha);
      put_msg(&b, &req.base);
      char name[64];
      snprintf(name, sizeof name, "%s_%s", alpha ? "v1alpha" : "v1", reqs[i].name);
      seed(&b, "reflection_request", name);
    }
  }
  free(b.p);
}

/* ---- model_infer: features / probability byte, then a ModelInferRequest ------------ */

static void seeds_model_infer(void) {
  buf b = {0};
  int64_t shape[2] = {2, 3};
  double fp64[6] = {63, 1, 145, 41, 0, 130};
  float fp32[6] = {63, 1, 145, 41, 0, 130};
  Inference__InferTensorContents contents = INFERENCE__INFER_TENSOR_CONTENTS__INIT;
  Inference__ModelInferRequest__InferInputTensor in = INFERENCE__MODEL_INFER_REQUEST__INFER_INPUT_TENSOR__INIT;
  Inference__ModelInferRequest__InferInputTensor *ins[] = {&in};
  Inference__ModelInferRequest__InferRequestedOutputTensor out_label =
      INFERENCE__MODEL_INFER_REQUEST__INFER_REQUESTED_OUTPUT_TENSOR__INIT;
  Inference__ModelInferRequest__InferRequestedOutputTensor out_prob =
      INFERENCE__MODEL_INFER_REQUEST__INFER_REQUESTED_OUTPUT_TENSOR__INIT;
  Inference__ModelInferRequest__InferRequestedOutputTensor *outs[] = {&out_label, &out_prob};
  out_label.name = "label";
  out_prob.name = "probability";
  Inference__ModelInferRequest req = INFERENCE__MODEL_INFER_REQUEST__INIT;
  req.model_name = "heart";
  req.n_inputs = 1;
  req.inputs = ins;
  in.name = "features";
  in.n_shape = 2;
  in.shape = shape;

  in.datatype = "FP64";
  in.contents = &contents;
  contents.n_fp64_contents = 6;
  contents.fp64_contents = fp64;
  put_byte(&b, 3);
  put_msg(&b, &req.base);
  seed(&b, "model_infer", "fp64_contents");

  in.datatype = "FP32";
  contents.n_fp64_contents = 0;
  contents.n_fp32_contents = 6;
  contents.fp32_contents = fp32;
  req.n_outputs = 2;
  req.outputs = outs;
  put_byte(&b, 3 | 32);
  put_msg(&b, &req.base);
  seed(&b, "model_infer", "fp32_contents_probability");

  uint8_t raw64[6 * 8], raw32[6 * 4];
  for (size_t i = 0; i < 6; i++) {
    uint64_t u;
    uint32_t v;
    memcpy(&u, &fp64[i], 8);
    memcpy(&v, &fp32[i], 4);
    for (int k = 0; k < 8; k++) {
      raw64[8 * i + (size_t)k] = (uint8_t)(u >> (8 * k));
    }
    for (int k = 0; k < 4; k++) {
      raw32[4 * i + (size_t)k] = (uint8_t)(v >> (8 * k));
    }
  }
  ProtobufCBinaryData raw = {sizeof raw64, raw64};
  in.contents = NULL;
  in.datatype = "FP64";
  req.n_outputs = 1;
  req.n_raw_input_contents = 1;
  req.raw_input_contents = &raw;
  put_byte(&b, 3);
  put_msg(&b, &req.base);
  seed(&b, "model_infer", "raw_fp64");

  raw.data = raw32;
  raw.len = sizeof raw32;
  in.datatype = "FP32";
  shape[0] = 3;
  shape[1] = 2;
  put_byte(&b, 2);
  put_msg(&b, &req.base);
  seed(&b, "model_infer", "raw_fp32");
  free(b.p);
}

/* ---- feature_rows: a FeatureView, then a WriteRowsRequest -------------------------- */

static void seeds_feature_rows(void) {
  buf b = {0};
  Shimkit__Ml__V1__FeatureSpec specs[4];
  Shimkit__Ml__V1__FeatureSpec *spec_ptrs[4];
  const char *names[4] = {"age", "bmi", "city", "smoker"};
  Shimkit__Ml__V1__FeatureType types[4] = {SHIMKIT__ML__V1__FEATURE_TYPE__FEATURE_TYPE_INT64,
                                           SHIMKIT__ML__V1__FEATURE_TYPE__FEATURE_TYPE_DOUBLE,
                                           SHIMKIT__ML__V1__FEATURE_TYPE__FEATURE_TYPE_STRING,
                                           SHIMKIT__ML__V1__FEATURE_TYPE__FEATURE_TYPE_BOOL};
  for (size_t i = 0; i < 4; i++) {
    shimkit__ml__v1__feature_spec__init(&specs[i]);
    specs[i].name = (char *)names[i];
    specs[i].type = types[i];
    spec_ptrs[i] = &specs[i];
  }
  Shimkit__Ml__V1__FeatureView view = SHIMKIT__ML__V1__FEATURE_VIEW__INIT;
  view.name = "patients";
  view.entity_key = "patient_id";
  view.n_features = 4;
  view.features = spec_ptrs;

  Shimkit__Ml__V1__FeatureValue values[4];
  Shimkit__Ml__V1__FeatureRow__ValuesEntry entries[4];
  Shimkit__Ml__V1__FeatureRow__ValuesEntry *entry_ptrs[4];
  for (size_t i = 0; i < 4; i++) {
    shimkit__ml__v1__feature_value__init(&values[i]);
    shimkit__ml__v1__feature_row__values_entry__init(&entries[i]);
    entries[i].key = (char *)names[i];
    entries[i].value = &values[i];
    entry_ptrs[i] = &entries[i];
  }
  values[0].kind_case = SHIMKIT__ML__V1__FEATURE_VALUE__KIND_INT64_VALUE;
  values[0].int64_value = 63;
  values[1].kind_case = SHIMKIT__ML__V1__FEATURE_VALUE__KIND_DOUBLE_VALUE;
  values[1].double_value = 27.5;
  values[2].kind_case = SHIMKIT__ML__V1__FEATURE_VALUE__KIND_STRING_VALUE;
  values[2].string_value = "Lisbon";
  values[3].kind_case = SHIMKIT__ML__V1__FEATURE_VALUE__KIND_BOOL_VALUE;
  values[3].bool_value = 1;
  Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  t.seconds = 1700000000;
  t.nanos = 5;
  Shimkit__Ml__V1__FeatureRow rows[2];
  Shimkit__Ml__V1__FeatureRow *row_ptrs[2] = {&rows[0], &rows[1]};
  shimkit__ml__v1__feature_row__init(&rows[0]);
  shimkit__ml__v1__feature_row__init(&rows[1]);
  rows[0].entity_key = "patient-7";
  rows[0].event_time = &t;
  rows[0].n_values = 4;
  rows[0].values = entry_ptrs;
  rows[1].entity_key = "patient-9";
  rows[1].n_values = 2;
  rows[1].values = entry_ptrs + 2;
  Shimkit__Ml__V1__WriteRowsRequest req = SHIMKIT__ML__V1__WRITE_ROWS_REQUEST__INIT;
  req.view = "patients";
  req.n_rows = 2;
  req.rows = row_ptrs;

  buf first = {0};
  put_msg(&first, &view.base);
  put_first_part(&b, &first);
  put_msg(&b, &req.base);
  seed(&b, "feature_rows", "patients");

  first.len = 0; /* no view: rows against the target's fixed view, which has the same features */
  put_first_part(&b, &first);
  put_msg(&b, &req.base);
  seed(&b, "feature_rows", "fixed_view");
  free(first.p);
  free(b.p);
}

/* ---- wire_depth: type number, depth bound, then the message ----------------------- */

static void seeds_wire_depth(void) {
  buf b = {0};
  /* Struct {a: {b: [1]}}: 8 levels of Struct, FieldsEntry, Value, ListValue: refused under bound 3. */
  Google__Protobuf__Value one = GOOGLE__PROTOBUF__VALUE__INIT;
  one.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
  one.number_value = 1;
  Google__Protobuf__Value *list_values[] = {&one};
  Google__Protobuf__ListValue list = GOOGLE__PROTOBUF__LIST_VALUE__INIT;
  list.n_values = 1;
  list.values = list_values;
  Google__Protobuf__Value b_value = GOOGLE__PROTOBUF__VALUE__INIT;
  b_value.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
  b_value.list_value = &list;
  Google__Protobuf__Struct__FieldsEntry b_entry = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
  b_entry.key = "b";
  b_entry.value = &b_value;
  Google__Protobuf__Struct__FieldsEntry *b_entries[] = {&b_entry};
  Google__Protobuf__Struct inner = GOOGLE__PROTOBUF__STRUCT__INIT;
  inner.n_fields = 1;
  inner.fields = b_entries;
  Google__Protobuf__Value a_value = GOOGLE__PROTOBUF__VALUE__INIT;
  a_value.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
  a_value.struct_value = &inner;
  Google__Protobuf__Struct__FieldsEntry a_entry = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
  a_entry.key = "a";
  a_entry.value = &a_value;
  Google__Protobuf__Struct__FieldsEntry *a_entries[] = {&a_entry};
  Google__Protobuf__Struct outer = GOOGLE__PROTOBUF__STRUCT__INIT;
  outer.n_fields = 1;
  outer.fields = a_entries;
  for (uint8_t depth = 3; depth <= 9; depth += 6) {
    put_byte(&b, (uint8_t)fuzz_message_type_number(&google__protobuf__struct__descriptor));
    put_byte(&b, (uint8_t)(depth - 1)); /* the target's bound is 1 + this byte */
    put_msg(&b, &outer.base);
    seed(&b, "wire_depth", depth == 3 ? "struct_8_deep_bound_3" : "struct_8_deep_bound_9");
  }
  const shimkit_service_desc *fs = &shimkit__ml__v1__feature_store__shimkit_service;
  put_byte(&b, (uint8_t)fuzz_message_type_number(&google__protobuf__file_descriptor_proto__descriptor));
  put_byte(&b, 7);
  put(&b, fs->files[fs->n_files - 1].data, fs->files[fs->n_files - 1].len);
  seed(&b, "wire_depth", "file_descriptor");
  free(b.p);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz_seeds DIR\n");
    return 2;
  }
  g_dir = argv[1];
  if (mkdir(g_dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "fuzz_seeds: cannot create %s: %s\n", g_dir, strerror(errno));
    return 1;
  }
  seeds_field_key();
  seeds_router_descriptors();
  seeds_reflection_request();
  seeds_model_infer();
  seeds_feature_rows();
  seeds_wire_depth();
  return 0;
}
