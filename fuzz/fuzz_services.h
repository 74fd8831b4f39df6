/*
 * fuzz_services.h - the generated services the fuzz targets take their
 * message types and descriptor files from: the ML stack's four services,
 * health and reflection, as a shim or the router serves them. Shared by
 * the targets and fuzz_seeds.c, so that a seed's "type number" byte means
 * the same message in both.
 */
#ifndef SHIMKIT_FUZZ_SERVICES_H
#define SHIMKIT_FUZZ_SERVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "grpc/health/v1/health.shimkit.h"
#include "grpc/reflection/v1/reflection.shimkit.h"
#include "grpc/reflection/v1alpha/reflection.shimkit.h"
#include "inference/grpc_predict_v2.shimkit.h"
#include "ml/v1/feature_store.shimkit.h"
#include "ml/v1/model_repository.shimkit.h"
#include "ml/v1/training.shimkit.h"

static const shimkit_service_desc *const fuzz_services[] = {
    &shimkit__ml__v1__feature_store__shimkit_service,
    &shimkit__ml__v1__model_repository__shimkit_service,
    &shimkit__ml__v1__training__shimkit_service,
    &inference__grpcinference_service__shimkit_service,
    &grpc__health__v1__health__shimkit_service,
    &grpc__reflection__v1__server_reflection__shimkit_service,
    &grpc__reflection__v1alpha__server_reflection__shimkit_service,
};
#define FUZZ_N_SERVICES (sizeof fuzz_services / sizeof fuzz_services[0])

#define FUZZ_MAX_TYPES 128

/*
 * Every request and response type of fuzz_services, after
 * google.protobuf.Struct (number 0, recursive) and FileDescriptorProto
 * (number 1), each once, in a fixed order. Returns how many.
 */
static inline size_t fuzz_message_types(const ProtobufCMessageDescriptor **out) {
  size_t n = 0;
  const ProtobufCMessageDescriptor *first[] = {&google__protobuf__struct__descriptor,
                                               &google__protobuf__file_descriptor_proto__descriptor};
  for (size_t i = 0; i < 2; i++) {
    out[n++] = first[i];
  }
  for (size_t s = 0; s < FUZZ_N_SERVICES; s++) {
    for (size_t m = 0; m < fuzz_services[s]->n_methods; m++) {
      const ProtobufCMessageDescriptor *pair[] = {fuzz_services[s]->methods[m].request,
                                                  fuzz_services[s]->methods[m].response};
      for (size_t k = 0; k < 2; k++) {
        bool seen = false;
        for (size_t i = 0; i < n && !seen; i++) {
          seen = out[i] == pair[k];
        }
        if (!seen && n < FUZZ_MAX_TYPES) {
          out[n++] = pair[k];
        }
      }
    }
  }
  return n;
}

/* The number fuzz_message_types gives d, or 0 (Struct) when it is not there. */
static inline unsigned fuzz_message_type_number(const ProtobufCMessageDescriptor *d) {
  const ProtobufCMessageDescriptor *types[FUZZ_MAX_TYPES];
  size_t n = fuzz_message_types(types);
  for (size_t i = 0; i < n; i++) {
    if (types[i] == d) {
      return (unsigned)i;
    }
  }
  return 0;
}

#endif /* SHIMKIT_FUZZ_SERVICES_H */
