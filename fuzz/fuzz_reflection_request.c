/*
 * fuzz_reflection_request.c - server reflection requests (v1 and v1alpha)
 * decoded as the server decodes them and looked up in the symbol index
 * (runtime/src/reflection_index.c) built from real generated services.
 *
 * Why: every shim serves grpc.reflection to anyone who connects; the
 * names in a request (files, symbols, extension types and numbers) are
 * untrusted and go straight into the index's searches and the dependency
 * closure of the file found, as in reflection.c's answer().
 *
 * Input: the first byte picks v1 or v1alpha (bit 0), the rest is one
 * ServerReflectionRequest. The index holds the files of the ML services,
 * health and reflection, as a shim serving them would.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "fuzz_services.h"
#include "reflection.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest refl_request;

static shimkit__refl_files *index_of_services(void) {
  static shimkit__refl_files *files;
  if (files == NULL) {
    files = shimkit__refl_files_new(fuzz_services, FUZZ_N_SERVICES);
    if (files == NULL) {
      abort();
    }
  }
  return files;
}

/* A file found must come back first in its own closure, and every blob of it must be a real one. */
static void closure_of(shimkit__refl_files *files, const shimkit_file_blob *file) {
  if (file == NULL) {
    return;
  }
  size_t max = shimkit__refl_files_count(files);
  const shimkit_file_blob **out = calloc(max, sizeof *out);
  if (out == NULL) {
    abort();
  }
  size_t n = shimkit__refl_file_closure(files, file, out, max);
  if (n < 1 || n > max || out[0] != file) {
    abort();
  }
  for (size_t i = 0; i < n; i++) {
    if (out[i] == NULL || out[i]->data == NULL || out[i]->len == 0) {
      abort();
    }
  }
  free(out);
}

/* The searches answer() makes for one request. */
static void answer(shimkit__refl_files *files, const refl_request *req) {
  switch (req->message_request_case) {
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
    closure_of(files, shimkit__refl_find_file(files, req->file_by_filename));
    break;
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
    closure_of(files, shimkit__refl_find_symbol(files, req->file_containing_symbol));
    break;
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
    if (req->file_containing_extension != NULL) {
      closure_of(files, shimkit__refl_find_extension(files, req->file_containing_extension->containing_type,
                                                     req->file_containing_extension->extension_number));
    }
    break;
  case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE: {
    const char *type = req->all_extension_numbers_of_type != NULL ? req->all_extension_numbers_of_type : "";
    long total = shimkit__refl_extension_numbers(files, type, NULL, 0);
    if (total > 0) {
      int32_t *numbers = calloc((size_t)total, sizeof *numbers);
      if (numbers == NULL || shimkit__refl_extension_numbers(files, type, numbers, (size_t)total) != total) {
        abort();
      }
      free(numbers);
    }
    break;
  }
  default: break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) {
    return 0;
  }
  bool alpha = (data[0] & 1) != 0;
  data++;
  size--;
  shimkit__refl_files *files = index_of_services();
  if (alpha) {
    /* reflection.c reads v1alpha as v1 by packing and unpacking: the types are wire-identical. */
    ProtobufCMessage *a = fuzz_unpack(&grpc__reflection__v1alpha__server_reflection_request__descriptor, data, size);
    if (a == NULL) {
      return 0;
    }
    size_t n = protobuf_c_message_get_packed_size(a);
    uint8_t *buf = malloc(n > 0 ? n : 1);
    if (buf == NULL) {
      abort();
    }
    protobuf_c_message_pack(a, buf);
    protobuf_c_message_free_unpacked(a, NULL);
    refl_request *req = grpc__reflection__v1__server_reflection_request__unpack(NULL, n, buf);
    free(buf);
    if (req == NULL) {
      abort(); /* what protobuf-c packed, it must read back */
    }
    answer(files, req);
    grpc__reflection__v1__server_reflection_request__free_unpacked(req, NULL);
    return 0;
  }
  refl_request *req =
      (refl_request *)fuzz_unpack(&grpc__reflection__v1__server_reflection_request__descriptor, data, size);
  if (req != NULL) {
    answer(files, req);
    grpc__reflection__v1__server_reflection_request__free_unpacked(req, NULL);
  }
  return 0;
}
