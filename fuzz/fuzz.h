/*
 * fuzz.h - what the libFuzzer targets of fuzz/ share: the entry point's
 * prototype, splitting one input into parts, and decoding request bytes the
 * way the server does (depth guard, then protobuf-c).
 *
 * A target that needs two inputs (descriptors and a message, a view and its
 * rows) reads a 2-byte little-endian length, that many bytes (fewer when the
 * input ends first), then the rest: fuzz_seeds.c writes its seeds in the
 * same layout. Header-only, so each target stays one .c file.
 */
#ifndef SHIMKIT_FUZZ_H
#define SHIMKIT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "wire_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One part of an input. */
typedef struct fuzz_part {
  const uint8_t *data;
  size_t len;
} fuzz_part;

/* Splits data into a length-prefixed first part and the rest (either may be empty). */
static inline void fuzz_split(const uint8_t *data, size_t size, fuzz_part *first, fuzz_part *rest) {
  size_t n = size >= 2 ? (size_t)data[0] | (size_t)data[1] << 8 : 0;
  size_t skip = size >= 2 ? 2 : size;
  if (n > size - skip) {
    n = size - skip;
  }
  first->data = data + skip;
  first->len = n;
  rest->data = data + skip + n;
  rest->len = size - skip - n;
}

/*
 * Decodes a request as the server does (call.c): the wire guard, then
 * protobuf-c with the default allocator. NULL when either refuses it; free
 * with protobuf_c_message_free_unpacked.
 */
static inline ProtobufCMessage *fuzz_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                            size_t len) {
  if (shimkit__wire_check(desc, data, len, SHIMKIT__PROTO_DEPTH_MAX) != SHIMKIT__WIRE_OK) {
    return NULL;
  }
  return protobuf_c_message_unpack(desc, NULL, len, len > 0 ? data : (const uint8_t *)"");
}

#endif /* SHIMKIT_FUZZ_H */
