/*
 * fuzz_router_descriptors.c - the router's descriptor pool and field-path
 * resolution (runtime/router/descriptors.c), then the wire reader with the
 * path it resolved (field_key.c).
 *
 * Why: for --hash-field the router asks a replica's reflection for the
 * FileDescriptorProtos of a method and walks them (services, methods,
 * nested message types, fields, type names). A replica is a network peer:
 * its descriptor bytes are untrusted, and every pointer in what protobuf-c
 * decodes from them may be missing or point anywhere in the pool.
 *
 * Input (fuzz.h's split): first part, a reflection FileDescriptorResponse
 * (wire-identical to a FileDescriptorSet: `protoc --descriptor_set_out`);
 * the rest, one text line "/pkg.Svc/Method field.path" and then the bytes
 * of a request message to read the key from.
 */
#include <stdlib.h>
#include <string.h>

#include "descriptors.h"
#include "fuzz.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

#define LINE_MAX_BYTES 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_part files, rest;
  fuzz_split(data, size, &files, &rest);
  Grpc__Reflection__V1__FileDescriptorResponse *fds =
      grpc__reflection__v1__file_descriptor_response__unpack(NULL, files.len, files.data);
  if (fds == NULL) {
    return 0;
  }
  router_desc_pool *pool = router_desc_pool_new();
  if (pool == NULL) {
    abort();
  }
  for (size_t i = 0; i < fds->n_file_descriptor_proto; i++) {
    router_desc_pool_add(pool, fds->file_descriptor_proto[i].data, fds->file_descriptor_proto[i].len);
  }
  grpc__reflection__v1__file_descriptor_response__free_unpacked(fds, NULL);
  (void)router_desc_pool_missing(pool);

  const uint8_t *nl = memchr(rest.data, '\n', rest.len < LINE_MAX_BYTES ? rest.len : LINE_MAX_BYTES);
  if (nl != NULL) {
    size_t line_len = (size_t)(nl - rest.data);
    char line[LINE_MAX_BYTES + 1];
    memcpy(line, rest.data, line_len);
    line[line_len] = '\0';
    char *sp = strchr(line, ' ');
    const char *field = "";
    if (sp != NULL) {
      *sp = '\0';
      field = sp + 1;
    }
    router_field_path path;
    char err[256];
    if (router_desc_resolve(pool, line, field, &path, err, sizeof err) == 0) {
      const uint8_t *msg = nl + 1;
      size_t msg_len = rest.len - line_len - 1;
      router_field_value key;
      if (router_field_key_get(msg_len > 0 ? msg : NULL, msg_len, &path, &key) == 1 && key.len > 0) {
        volatile uint8_t sink = key.data[0] ^ key.data[key.len - 1]; /* ASan checks both ends */
        (void)sink;
      }
    }
  }
  router_desc_pool_free(pool);
  return 0;
}
