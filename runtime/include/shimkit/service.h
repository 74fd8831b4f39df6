/*
 * shimkit/service.h - the tables that protoc-gen-shimkit emits.
 *
 * Generated code is descriptor tables plus thin typed wrappers. These are the
 * table types the runtime reads: one shimkit_service_desc per proto service,
 * with its methods sorted by full path, and the serialized
 * FileDescriptorProtos of the file and its dependencies (for reflection, and
 * later for JSON and routing on request fields).
 *
 * Application code does not fill these by hand; it uses the generated
 * <file>.shimkit.h. Everything here is read-only static data.
 */
#ifndef SHIMKIT_SERVICE_H
#define SHIMKIT_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "shimkit/export.h"
#include "shimkit/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shimkit_call shimkit_call;

/** The four kinds of RPC. */
typedef enum shimkit_method_kind {
  SHIMKIT_METHOD_UNARY = 0,
  SHIMKIT_METHOD_SERVER_STREAMING = 1,
  SHIMKIT_METHOD_CLIENT_STREAMING = 2,
  SHIMKIT_METHOD_BIDI_STREAMING = 3
} shimkit_method_kind;

/**
 * Calls the typed handler for one method. Generated per method: it casts the
 * handler table to its typed struct and calls the right member.
 *   unary:            request != NULL, response != NULL (initialised, to fill)
 *   server streaming: request != NULL, response == NULL (write with the stream helper)
 *   client streaming: request == NULL, response != NULL (read with the stream helper)
 *   bidi streaming:   request == NULL, response == NULL
 * Returns the handler's status, or SHIMKIT_UNIMPLEMENTED when the table's
 * member is NULL.
 */
typedef shimkit_code (*shimkit_invoke_fn)(const void *handlers, shimkit_call *call,
                                          const ProtobufCMessage *request,
                                          ProtobufCMessage *response, void *user_data);

/** One RPC of a service. */
typedef struct shimkit_method_desc {
  const char *path;                           /* "/pkg.Service/Method" */
  const char *name;                           /* "Method" */
  shimkit_method_kind kind;                   /* unary / streaming flavour */
  const ProtobufCMessageDescriptor *request;  /* protobuf-c descriptor of the input */
  const ProtobufCMessageDescriptor *response; /* protobuf-c descriptor of the output */
  shimkit_invoke_fn invoke;                   /* typed trampoline, see above */
} shimkit_method_desc;

/** One serialized google.protobuf.FileDescriptorProto. */
typedef struct shimkit_file_blob {
  const char *name;          /* "examples/echo.proto" as protoc saw it */
  const uint8_t *data;       /* serialized FileDescriptorProto */
  size_t len;                /* length of data */
} shimkit_file_blob;

/** One proto service. */
typedef struct shimkit_service_desc {
  uint32_t abi_version;               /* SHIMKIT_ABI_VERSION of the generator */
  const char *full_name;              /* "pkg.Service" */
  const char *file_name;              /* the .proto that declares it */
  size_t n_methods;                   /* number of methods */
  const shimkit_method_desc *methods; /* sorted by path (strcmp order) */
  size_t n_files;                     /* number of file blobs */
  const shimkit_file_blob *files;     /* dependencies first, the declaring file last */
} shimkit_service_desc;

/** The method with this full path, by binary search, or NULL. */
SHIMKIT_API const shimkit_method_desc *shimkit_service_find_method(const shimkit_service_desc *svc,
                                                                   const char *path);

#ifdef __cplusplus
}
#endif
#endif /* SHIMKIT_SERVICE_H */
